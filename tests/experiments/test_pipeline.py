"""The smoke pipeline end to end through the CLI: train -> eval -> report, and sweep/run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.evaluate import RESULT_FILE

RESULT_FIELDS = {
    "task", "level", "model", "seed", "lr", "steps", "score", "solved", "accuracy", "lengths",
    "train_seconds", "train_cpu_seconds", "eval_seconds", "device", "torch_version",
    "git_commit", "model_config", "config", "preset",
}


def _run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("config.json"))


def test_train_eval_report(results_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for model in ("pr_lstm", "lstm", "transformer"):
        assert main(["train", "--task", "parity_check", "--model", model, "--preset", "smoke",
                     "--out", str(results_dir), "--quiet"]) == 0
    run_dirs = _run_dirs(results_dir)
    assert len(run_dirs) == 3
    for run_dir in run_dirs:
        assert {"config.json", "train_log.csv", "checkpoint.json"} <= {
            p.name for p in run_dir.iterdir()}
        assert main(["eval", str(run_dir), "--quiet"]) == 0
        result = json.loads((run_dir / RESULT_FILE).read_text())
        assert RESULT_FIELDS <= set(result)
        assert result["lengths"] == list(range(1, 13)) and len(result["accuracy"]) == 12
        assert result["score"] == pytest.approx(sum(result["accuracy"][5:]) / 7)
        assert result["model_config"]["model"] == result["model"]
        assert result["config"]["steps"] == result["steps"] == 6
        assert result["device"] == "cpu" and result["preset"] == "smoke"
        assert 0 < result["train_cpu_seconds"] < 10 * result["train_seconds"] + 1
    capsys.readouterr()
    assert main(["report", str(results_dir), "--out", str(results_dir / "rep")]) == 0
    table = capsys.readouterr().out
    assert "| Regular | parity_check |" in table and "**solved**" in table
    for model in ("pr_lstm", "lstm", "transformer"):
        assert model in table
    written = {p.name for p in (results_dir / "rep").iterdir()}
    assert {"report.md", "accuracy_parity_check.png", "training_parity_check.png"} <= written


def test_run_is_sweep_plus_report_and_resumes(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    argv = ["run", "--preset", "smoke", "--models", "pr_lstm", "lstm", "--tasks", "parity_check",
            "even_pairs", "--seeds", "0,1", "--out", str(out), "--workers", "2", "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr()
    results = sorted(out.rglob(RESULT_FILE))
    assert len(results) == 8
    assert "| Regular | even_pairs |" in first.out and "| | parity_check |" in first.out
    stamps = {p: p.stat().st_mtime_ns for p in results}
    assert main(argv[:-3] + ["--workers", "1", "--quiet"]) == 0
    second = capsys.readouterr()
    assert second.err.count("skipped") == 8
    assert {p: p.stat().st_mtime_ns for p in results} == stamps


def test_report_keeps_ablation_variants_apart():
    from prlstm.experiments.results import group_results, ordered_models

    def result(model, R, seed, score):
        return {"task": "parity_check", "model": model, "seed": seed, "score": score,
                "model_config": {"model": model, "hidden_size": 8, "refinements": R}}

    runs = [result("pr_lstm", 0, 0, 0.5), result("pr_lstm", 0, 1, 0.6),
            result("pr_lstm", 2, 0, 1.0), result("lstm", None, 0, 0.7)]
    runs[-1]["model_config"] = {"model": "lstm", "hidden_size": 8}
    groups = group_results(runs)
    assert ordered_models(groups) == ["pr_lstm refinements=0", "pr_lstm refinements=2", "lstm"]
    assert len(groups[("parity_check", "pr_lstm refinements=0")]) == 2
