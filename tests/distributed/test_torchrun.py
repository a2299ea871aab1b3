"""``prlstm train`` under ``torchrun --nproc-per-node 2`` (DDP, gloo on CPU).

Two processes at batch 4 each must reach the weights of one process at batch 8 after the same
updates — up to floating-point reduction order: the tolerance is 1e-6 absolute on every weight
(measured differences are around 3e-8 after 6 updates). Only rank 0 writes (one log row per
step, no duplicates), and resuming a partial run under torchrun gives the same weights.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prlstm.cli import main
from prlstm.experiments.run.checkpoint import read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.io import read_json
from prlstm.experiments.run.train import train
from prlstm.experiments.run.trainlog import read_log
from tests.distributed.conftest import subprocess_env
from tests.distributed.netns import Hosts, unavailable_reason

TOLERANCE = 1e-6
FLAGS = ["--task", "parity_check", "--model", "pr_lstm", "--preset", "smoke", "--batch-size",
         "8", "--steps", "6", "--ckpt-every", "3", "--log-every", "1", "--quiet"]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / read_manifest(run_dir)["weights"])


def max_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_at_the_combined_batch(tmp_path: Path) -> None:
    one, ddp, partial = tmp_path / "one", tmp_path / "ddp", tmp_path / "partial"
    assert main(["train", *FLAGS, "--run-dir", str(one)]) == 0
    config = RunConfig.from_dict(read_json(one / "config.json"))

    def crash(step: int) -> None:
        if step == 4:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):  # a partial run: checkpoint at step 3, killed at 4
        train(config, partial, progress=False, on_step=crash)

    argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port",
            str(free_port()), str(Path(__file__).with_name("ddp_main.py")), str(ddp),
            str(partial), *FLAGS]
    env = subprocess_env()
    if unavailable_reason() is None:  # a namespace with only lo: nothing else to reach
        with Hosts(1) as host:
            done = host.run(0, argv, env=env, timeout=300)
    else:  # plain loopback (GLOO_SOCKET_IFNAME=lo, 127.0.0.1 rendezvous)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("trained parity_check/pr_lstm") == 2  # rank 0 only, twice

    assert read_manifest(ddp)["step"] == read_manifest(partial)["step"] == 6
    assert max_difference(ddp, one) <= TOLERANCE
    assert max_difference(partial, one) <= TOLERANCE
    for run in (ddp, partial):
        assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in one.iterdir())
        rows, want = read_log(run), read_log(one)
        assert [r["step"] for r in rows] == [r["step"] for r in want] == list(range(1, 7))
        for got, ref in zip(rows, want, strict=True):  # averaged over the ranks
            assert got["loss"] == pytest.approx(ref["loss"], abs=1e-5)
            assert got["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-6)


def test_batch_must_split_evenly_over_the_processes(monkeypatch, tmp_path: Path) -> None:
    from prlstm.experiments.run.distributed import DataParallel

    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match=r"batch_size \(8\) must be a multiple .* \(3\)"):
        DataParallel.from_env(8, torch.device("cpu"))


@pytest.mark.slow
def test_a_rank_that_dies_mid_run_fails_the_job_at_once(tmp_path: Path) -> None:
    """Rank 1 raises after update 2 while rank 0 waits in update 3's all-reduce: the job must
    fail within seconds (the exit barrier is skipped for a rank that dies mid-run), not hang
    until the process group's 30-minute timeout."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port",
            str(free_port()), str(Path(__file__).with_name("ddp_crash.py")), str(tmp_path / "r")]
    done = subprocess.run(argv, env=subprocess_env(), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode != 0
    assert "rank 1 killed at step 2" in done.stderr
