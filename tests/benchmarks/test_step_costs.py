"""benchmarks/step_costs.py adds up a preset's grid from saved step costs (no timing here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prlstm.experiments.orchestrate.presets import get_preset, grid, make_config
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    return load_script(ROOT / "benchmarks" / "step_costs.py", "prlstm_bench_step_costs")


def _fake_costs(script, preset: str) -> dict:
    """1 ms per step and 1 s of evaluation for every cell of the preset."""
    costs: dict = {}
    for p in grid(get_preset(preset), seeds=[0], lrs=[1e-3]):
        costs.setdefault(p.task, {})[script.variant_key(p.model, p.hparams)] = {
            "step_ms": 1.0, "eval_s": 1.0}
    return costs


@pytest.mark.parametrize("name", ["cpu-full", "cpu-fair"])
def test_grid_total_counts_every_run_and_tuning_run(script, name, capsys) -> None:
    preset = get_preset(name)
    sized = script.size_preset(name, 1, measured=_fake_costs(script, name))
    points = grid(preset)
    tuning = len(preset.tune_lrs) * len(preset.tune_seeds)
    cells = {(p.task, script.variant_key(p.model, p.hparams)): p for p in points}
    steps = {k: make_config(p.task, p.model, name, hparams=p.hparams).steps
             for k, p in cells.items()}
    want = sum(make_config(p.task, p.model, name, hparams=p.hparams).steps / 1000 + 1.0
               for p in points)
    want += sum(tuning * steps[k] / 1000 for k in cells)  # tuning runs: no test evaluation
    assert sized["runs"] == len(points) and sized["tuning_runs_per_cell"] == tuning
    assert sized["core_seconds"] == pytest.approx(want)
    assert f"{len(points)} runs plus {tuning} tuning runs" in capsys.readouterr().out


def test_saved_fair_costs_add_up_to_the_documented_total(script, capsys) -> None:
    saved = json.loads((ROOT / "benchmarks/results/cpu_fair_costs.json").read_text())
    sized = script.size_preset("cpu-fair", 1, measured=saved["costs"])
    assert sized["runs"] == 440 and round(sized["core_seconds"]) == round(saved["core_seconds"])
    assert "96,700 core-seconds, 13.4 hours" in (ROOT / "docs/results.md").read_text()
    assert f"{sized['core_seconds'] / 7200:.1f}" == "13.4"
