"""Every linear-recurrence and xLSTM baseline runs through ``prlstm sweep --preset smoke``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.reporting.results import load_results

WRITTEN_HERE = ["mingru", "minlstm", "linear_rnn", "deltanet", "mamba"]
XLSTM = ["mlstm", "slstm"]
HAVE_XLSTM = importlib.util.find_spec("xlstm") is not None


def _sweep(out: Path, models: list[str], *extra: str) -> None:
    assert main(["sweep", "--preset", "smoke", "--models", *models, "--seeds", "0",
                 "--out", str(out), "--quiet", "--workers", "1", *extra]) == 0


@pytest.mark.slow
def test_every_new_model_sweeps_and_reports(tmp_path: Path) -> None:
    models = WRITTEN_HERE + (XLSTM if HAVE_XLSTM else [])
    _sweep(tmp_path, models)
    _sweep(tmp_path, ["linear_rnn", "deltanet"], "--hparam", "eigenvalues=negative")
    results = load_results(tmp_path)
    got = sorted((r["model"], r["model_config"].get("eigenvalues", "")) for r in results)
    want = sorted([(m, "positive" if m in ("linear_rnn", "deltanet") else "") for m in models]
                  + [("linear_rnn", "negative"), ("deltanet", "negative")])
    assert got == want
    assert all(0.0 <= r["score"] <= 1.0 for r in results)
    assert main(["report", str(tmp_path), "--no-plots"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "linear_rnn eigenvalues=negative" in text and "mamba" in text
    config = json.loads(next(tmp_path.rglob("mamba/**/config.json")).read_text())
    assert config["hparams"] == {"hidden_size": 8, "num_layers": 1}


@pytest.mark.skipif(HAVE_XLSTM, reason="checks the message shown without the xlstm package")
def test_xlstm_models_without_the_package_say_how_to_install(tmp_path: Path, capsys) -> None:
    assert main(["train", "--task", "parity_check", "--model", "mlstm", "--preset", "smoke",
                 "--out", str(tmp_path)]) == 2
    assert "pip install 'prlstm[baselines]'" in capsys.readouterr().err
