"""Two sweeps on one results directory: the second is refused, nothing is corrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.orchestrate.sweep import run_sweep
from prlstm.experiments.run.io import read_json
from prlstm.experiments.run.lock import DirectoryLocked, lock_dir

HOLD = ("import sys, time; from prlstm.experiments.run.lock import lock_dir\n"
        "with lock_dir(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n")


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with lock_dir(tmp_path):
        with pytest.raises(DirectoryLocked, match=rf"in use by another sweep \(pid {os.getpid()}"):
            with lock_dir(tmp_path):
                pass
    with lock_dir(tmp_path):  # free again
        pass


@pytest.mark.slow
def test_sweep_is_refused_while_another_process_holds_the_directory(smoke, tmp_path: Path,
                                                                    capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(DirectoryLocked, match=f"pid {holder.pid}"):
            run_sweep([smoke("lstm")], out, progress=False)
        code = main(["sweep", "--preset", "smoke", "--tasks", "parity_check", "--models",
                     "lstm", "--out", str(out), "--workers", "1", "--quiet"])
        assert code == 2
        err = capsys.readouterr().err
        assert "is in use by another sweep" in err and "Traceback" not in err
        assert not any(out.rglob("checkpoint.json"))  # refused before any work
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed holder leaves no stale lock
        holder.wait()
    (summary,) = run_sweep([smoke("lstm")], out, progress=False)
    assert summary["status"] == "done"


@pytest.mark.slow
def test_two_sweeps_at_once_one_runs_one_is_refused(smoke, tmp_path: Path) -> None:
    """Two sweep processes started together on one --out (separate processes, as users run
    them: threads of one process would share torch's global RNG and perturb each other's
    initialisation, which is not what the lock is about)."""
    config = smoke("lstm")
    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "prlstm.cli", "sweep", "--preset", "smoke", "--tasks",
            config.task, "--models", config.model, "--workers", "1", "--quiet", "--out",
            str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[3] / "src"), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outcomes = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        outcomes.append("refused" if "another sweep" in err.lower() or proc.returncode == 2
                        else ("done" if " done " in err else "skipped"))
        assert proc.returncode in (0, 2), err[-2000:]
    # Normally one refuses; if one had finished before the other started, it would skip.
    assert sorted(outcomes) in (["done", "refused"], ["done", "skipped"]), outcomes
    result = read_json(out / config.run_id() / "result.json")
    (fresh,) = run_sweep([config], tmp_path / "fresh", progress=False)
    assert result["score"] == fresh["score"]
