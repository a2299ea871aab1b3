"""Engine plumbing that needs no cluster: run files by value, flag checks, the local engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.ray_engine import RayEngine, pack_run, probe_address, unpack_run
from prlstm.experiments.orchestrate.sweep import LocalEngine, run_sweep
from tests.distributed.compare import assert_same_runs


@pytest.mark.slow
def test_run_files_round_trip_and_replace_old_checkpoints(tmp_path: Path) -> None:
    config = make_config("parity_check", "lstm", "smoke")
    (summary,) = run_sweep([config], tmp_path / "a", progress=False)
    files = pack_run(tmp_path / "a" / config.run_id())
    assert {"result.json", "config.json", "train_log.csv", "checkpoint.json"} <= set(files)
    target = tmp_path / "b" / config.run_id()
    target.mkdir(parents=True)
    (target / "ckpt-00000003.safetensors").write_bytes(b"stale")
    unpack_run(target, files)
    assert pack_run(target) == files  # the stale checkpoint file is gone
    assert_same_runs(tmp_path / "b", tmp_path / "a")
    with pytest.raises(ValueError, match="plain file name"):
        unpack_run(target, {"../evil": b""})


@pytest.mark.slow
def test_local_engine_given_explicitly_is_the_default(tmp_path: Path) -> None:
    configs = [make_config("parity_check", "lstm", "smoke", seed=s) for s in (0, 1)]
    run_sweep(configs, tmp_path / "default", progress=False)
    summaries = run_sweep(configs, tmp_path / "explicit", engine=LocalEngine(2), progress=False)
    assert [s["status"] for s in summaries] == ["done", "done"]
    assert_same_runs(tmp_path / "explicit", tmp_path / "default")


@pytest.mark.parametrize("flags, message", [
    (["--address", "127.0.0.1:1"], "--address needs --engine ray"),
    (["--storage", "x"], "--storage needs --engine ray"),
    (["--gpus-per-run", "0.5"], "--gpus-per-run needs --engine ray"),
    (["--engine", "ray", "--workers", "2"], "--workers is for --engine local"),
    (["--engine", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be > 0"),
    (["--engine", "ray", "--gpus-per-run", "1.5"], "above 1 must be a whole number"),
])
def test_bad_engine_flags_are_errors(flags: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", "--preset", "smoke", "--models", "lstm", "--out", str(tmp_path), *flags]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_address_must_be_host_and_port() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        probe_address("nohost")
    with pytest.raises(ValueError, match="max-retries"):
        RayEngine(max_retries=-1)
