"""Bad input and faults: each gets a clear error and leaves no partial result files.

The smoke pipeline end to end through the CLI: train -> eval -> report, and sweep/run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.run.checkpoint import CheckpointError, read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.run.lock import TRAIN_LOCK
from prlstm.experiments.run.train import train

ERROR_STATUS = 2


def _train_cli(out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "smoke", "--out", str(out), "--quiet", *extra]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err


def _files(root: Path) -> list[Path]:
    """The files under ``root`` but the run lock (which names its latest holder)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != TRAIN_LOCK)


@pytest.mark.parametrize(("argv", "message"), [
    (["--task", "parity", "--model", "lstm"], "unknown task 'parity'"),
    (["--task", "parity_check", "--model", "gru"], "unknown model 'gru'"),
    (["--task", "parity_check", "--model", "lstm", "--refinements", "1"],
     "'lstm' does not take option(s) 'refinements'"),
    (["--task", "parity_check", "--model", "pr_gru", "--refinements", "1"],
     "'refinements' must be 0"),
    (["--task", "parity_check", "--model", "lstm", "--task-option", "modulus=7"], "modulus"),
])
def test_bad_names_and_options(results_dir: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    assert main(_train_cli(results_dir, *argv)) == ERROR_STATUS
    assert message in _error(capsys)
    assert _files(results_dir) == []


def test_bad_names_in_a_sweep_fail_before_any_run(results_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--preset", "smoke", "--tasks", "parity_check", "--models", "lstm",
            "tape", "--out", str(results_dir), "--quiet"]
    assert main(argv) == ERROR_STATUS
    assert "unknown model 'tape'" in _error(capsys)
    assert _files(results_dir) == []


@pytest.mark.slow
def test_resume_with_another_config(smoke, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    train(smoke(steps=4, ckpt_every=2), run_dir, progress=False)
    before = {p: p.read_bytes() for p in _files(run_dir)}
    argv = _train_cli(tmp_path, "--task", "parity_check", "--model", "pr_lstm", "--run-dir",
                      str(run_dir), "--resume", "--steps", "4", "--lr", "0.01")
    assert main(argv) == ERROR_STATUS
    err = _error(capsys)
    assert "belongs to another run configuration" in err and "lr: checkpoint 0.001" in err
    assert {p: p.read_bytes() for p in _files(run_dir)} == before


def test_fresh_train_into_a_used_run_dir_is_refused(smoke, tmp_path: Path) -> None:
    train(smoke(steps=2), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="already holds a checkpoint"):
        train(smoke(steps=2), tmp_path, progress=False)


def test_resume_without_checkpoint(smoke, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(smoke(), tmp_path / "empty", resume=True, progress=False)


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:]))


@pytest.mark.parametrize("part", ["weights", "state"])
@pytest.mark.parametrize("how", ["truncate", "corrupt"])
def test_damaged_checkpoint(smoke, tmp_path: Path, part: str, how: str) -> None:
    config: RunConfig = smoke(steps=3)
    train(config, tmp_path, progress=False)
    _damage(tmp_path / read_manifest(tmp_path)[part], how)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train(config, tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        evaluate_run(tmp_path, progress=False)
    assert not (tmp_path / RESULT_FILE).exists()


def test_damaged_manifest(smoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train(smoke(steps=3), tmp_path, progress=False)
    manifest = tmp_path / "checkpoint.json"
    manifest.write_text(manifest.read_text()[:40])
    assert main(["eval", str(tmp_path), "--quiet"]) == ERROR_STATUS
    assert "checkpoint manifest" in _error(capsys)
    assert not (tmp_path / RESULT_FILE).exists()


def test_eval_of_unfinished_training(smoke, tmp_path: Path) -> None:
    config: RunConfig = smoke(steps=6, ckpt_every=2)

    def crash(step: int) -> None:
        if step == 3:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        train(config, tmp_path, progress=False, on_step=crash)
    with pytest.raises(CheckpointError, match="stopped at step 2 of 6"):
        evaluate_run(tmp_path, progress=False)
    assert not (tmp_path / RESULT_FILE).exists()


def test_output_path_below_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    argv = _train_cli(blocker / "results", "--task", "parity_check", "--model", "lstm")
    assert main(argv) == ERROR_STATUS
    assert "not a directory" in _error(capsys)
    assert _files(tmp_path) == [blocker]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_unwritable_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(_train_cli(locked, "--task", "parity_check", "--model", "lstm")) == 2
        assert "permission denied" in _error(capsys) or "not writable" in _error(capsys)
        assert _files(locked) == []
    finally:
        locked.chmod(0o700)


def test_unwritable_output_dir_via_failing_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """As root, permissions are not enforced: simulate the write probe failing instead."""
    import prlstm.experiments.run.io as io_module

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io_module.tempfile, "mkstemp", refuse)
    out = tmp_path / "out"
    assert main(_train_cli(out, "--task", "parity_check", "--model", "lstm")) == ERROR_STATUS
    assert "is not writable" in _error(capsys)
    assert not any(p.is_file() for p in out.rglob("*"))


def test_report_of_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == ERROR_STATUS
    assert "does not exist" in _error(capsys)


@pytest.mark.slow
def test_corrupt_result_is_recomputed_by_a_sweep(tmp_path: Path) -> None:
    argv = ["sweep", "--preset", "smoke", "--models", "lstm", "--out", str(tmp_path),
            "--workers", "1", "--quiet"]
    assert main(argv) == 0
    (result,) = tmp_path.rglob(RESULT_FILE)
    result.write_text("{ truncated")
    assert main(argv) == 0
    assert json.loads(result.read_text())["model"] == "lstm"


RESULT_FIELDS = {
    "task", "level", "model", "seed", "lr", "steps", "score", "solved", "accuracy", "lengths",
    "train_seconds", "train_cpu_seconds", "eval_seconds", "device", "torch_version",
    "git_commit", "model_config", "config", "preset",
}


def _run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("config.json"))


@pytest.mark.slow
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


@pytest.mark.slow
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
    from prlstm.experiments.reporting.results import group_results, ordered_models

    def result(model, R, seed, score):
        return {"task": "parity_check", "model": model, "seed": seed, "score": score,
                "model_config": {"model": model, "hidden_size": 8, "refinements": R}}

    runs = [result("pr_lstm", 0, 0, 0.5), result("pr_lstm", 0, 1, 0.6),
            result("pr_lstm", 2, 0, 1.0), result("lstm", None, 0, 0.7)]
    runs[-1]["model_config"] = {"model": "lstm", "hidden_size": 8}
    groups = group_results(runs)
    assert ordered_models(groups) == ["pr_lstm refinements=0", "pr_lstm refinements=2", "lstm"]
    assert len(groups[("parity_check", "pr_lstm refinements=0")]) == 2
