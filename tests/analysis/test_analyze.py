"""``prlstm analyze`` end to end on smoke-size runs (train -> eval -> probes, CKA, tables)."""

import json
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.sweep import run_sweep


@pytest.mark.slow
def test_analyze_smoke_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    configs = [make_config("parity_check", m, "smoke", seed=s)
               for m in ("pr_lstm", "lstm") for s in (0, 1)]
    configs += [make_config("parity_check", "pr_lstm", "smoke",
                            hparams={"merge": "sum", "refinements": 0}),
                make_config("parity_check", "transformer", "smoke")]
    assert all(s["status"] == "done" for s in run_sweep(configs, runs, progress=False))
    out = tmp_path / "analysis"
    assert main(["analyze", str(runs), "--out", str(out), "--num-lengths", "4"]) == 0
    text = capsys.readouterr().out
    assert "## Merge variants" in text and "| parity_check | pr_lstm | sum | 0 | tree | 0 |" in text
    data = json.loads((out / "analysis.json").read_text())
    assert {p.name for p in out.iterdir()} == {"analysis.json", "analysis.md",
                                               "probe_parity_check.png", "cka_parity_check.png"}
    variants = {(r["merge"], r["refinements"], tuple(r["seeds"])) for r in data["merge_table"]}
    assert variants == {("gated", 1, (0, 1)), ("sum", 0, (0,))}
    # probes: base pr_lstm and lstm (not the sum variant, not the transformer), 2 seeds,
    # trained and untrained
    assert sorted((p["model"], p["seed"], p["trained"]) for p in data["probe"]) == sorted(
        (m, s, t) for m in ("lstm", "pr_lstm") for s in (0, 1) for t in (True, False))
    for p in data["probe"]:
        assert 0.0 <= p["buckets"]["[0,40)"] <= 1.0 and p["buckets"]["[40,100)"] != p[
            "buckets"]["[40,100)"]  # smoke lengths stop at 12: later buckets are NaN
    comparisons = sorted(c["comparison"] for c in data["cka"])
    assert comparisons == sorted(["lstm vs pr_lstm"] * 4 + ["lstm seed vs seed",
                                  "pr_lstm seed vs seed"] + ["lstm trained vs untrained"] * 2
                                 + ["pr_lstm trained vs untrained"] * 2
                                 + [f"{m} {w} vs label one-hot" for m in ("lstm", "pr_lstm")
                                    for w in ("trained", "untrained") for _ in (0, 1)])
    for c in data["cka"]:
        assert 0.0 <= c["linear"]["[0,40)"] <= 1.0 + 1e-9
    assert data["test_sets"]["parity_check"]["lengths"] == [9, 12]
    assert data["budget"]["steps"]["pr_lstm"] == [6]
    # The small final weights it left behind suffice to regenerate every number exactly.
    for path in [*runs.rglob("ckpt-*"), *runs.rglob("checkpoint.json")]:
        path.unlink()
    assert len(list(runs.rglob("final.safetensors"))) == 4
    again = tmp_path / "again"
    assert main(["analyze", str(runs), "--out", str(again), "--num-lengths", "4",
                 "--no-plots"]) == 0
    redo = json.loads((again / "analysis.json").read_text())
    assert redo["probe"] == data["probe"] and redo["cka"] == data["cka"]
