"""Bad input and faults: each gets a clear error and leaves no partial result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.checkpoint import CheckpointError, read_manifest
from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.lock import TRAIN_LOCK
from prlstm.experiments.train import train

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
    import prlstm.experiments.io as io_module

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


def test_corrupt_result_is_recomputed_by_a_sweep(tmp_path: Path) -> None:
    argv = ["sweep", "--preset", "smoke", "--models", "lstm", "--out", str(tmp_path),
            "--workers", "1", "--quiet"]
    assert main(argv) == 0
    (result,) = tmp_path.rglob(RESULT_FILE)
    result.write_text("{ truncated")
    assert main(argv) == 0
    assert json.loads(result.read_text())["model"] == "lstm"
