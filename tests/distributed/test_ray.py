"""``prlstm sweep --engine ray`` on a real 2-node Ray cluster inside test-made namespaces."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prlstm.cli import main
from prlstm.experiments.run.checkpoint import read_manifest
from tests.distributed.compare import assert_same_runs, results
from tests.distributed.conftest import (
    RayCluster,
    need_namespaces,
    need_ray,
    normal_priority,
    prlstm_argv,
    subprocess_env,
    wait_until,
)
from tests.distributed.netns import Hosts, cmdline

GRID = ["--preset", "smoke", "--models", "lstm", "pr_lstm", "--seeds", "0", "1", "--quiet"]
# Long enough (600 updates, a few seconds on an idle core) to be caught mid-run after a
# checkpoint (every 10 updates); 300 was once over before the worker could be killed.
LONG_STEPS = 600
LONG = ["--preset", "smoke", "--models", "lstm", "--steps", str(LONG_STEPS), "--ckpt-every", "10",
        "--log-every", "10", "--quiet"]
FIRST_CKPT = 10


@pytest.fixture(scope="module")
def long_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LONG runs (seeds 0, 1, 2) on the local engine, uninterrupted: the reference."""
    out = tmp_path_factory.mktemp("long_local")
    local_sweep([*LONG, "--seeds", "0", "1", "2"], out)
    return out


def statuses(stderr: str) -> dict[str, int]:
    """How many runs the sweep's output reports per status."""
    counts: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"  (done|skipped|FAILED) ", line)
        if match:
            counts[match[1]] = counts.get(match[1], 0) + 1
    return counts


def local_sweep(args: list[str], out: Path) -> None:
    assert main(["sweep", *args, "--workers", "1", "--out", str(out)]) == 0


@pytest.mark.slow
def test_cluster_sweep_equals_local_engine(ray_cluster: RayCluster, tmp_path: Path) -> None:
    done = ray_cluster.sweep([*GRID, "--out", str(tmp_path / "ray")])
    assert done.returncode == 0, done.stderr[-3000:]
    for address in ray_cluster.hosts.addresses:  # tasks ran on the head and on the worker
        assert f"/{address}" in done.stderr, done.stderr[-3000:]
    local_sweep(GRID, tmp_path / "local")
    assert_same_runs(tmp_path / "ray", tmp_path / "local")
    def run_files(root: Path) -> list[str]:  # a local trainer's run lock stays behind
        return sorted(p.name for p in root.rglob("*") if p.is_file() and p.name != ".train.lock")

    assert run_files(tmp_path / "ray") == run_files(tmp_path / "local")

    again = ray_cluster.sweep([*GRID, "--out", str(tmp_path / "ray")])
    assert again.returncode == 0 and statuses(again.stderr) == {"skipped": 4}, again.stderr


@pytest.mark.slow
def test_killed_worker_is_retried_and_resumes(ray_cluster: RayCluster, long_local: Path,
                                              tmp_path: Path) -> None:
    storage, out = tmp_path / "storage", tmp_path / "out"
    args = [*LONG, "--seeds", "0", "1", "--storage", str(storage), "--out", str(out)]
    driver = ray_cluster.driver(args)
    try:
        def both_checkpointed() -> bool:
            manifests = list(storage.glob("*/*/*/checkpoint.json"))
            return len(manifests) == 2 and all(read_manifest(m.parent)["step"] >= FIRST_CKPT
                                               for m in manifests)

        def worker_task() -> list[int]:
            return [p for p in ray_cluster.hosts.pids(1) if cmdline(p).startswith("ray::run_task")]

        wait_until(lambda: both_checkpointed() and worker_task(), 180,
                   "both runs to checkpoint, one on the worker node", interval=0.02)
        (victim,) = worker_task()
        # The head node's run may already be done; the worker's (still a running task) is not.
        step = min(read_manifest(m.parent)["step"] for m in storage.glob("*/*/*/checkpoint.json"))
        assert step < LONG_STEPS, "both runs finished before the worker could be killed"
        os.kill(victim, signal.SIGKILL)
        _, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err[-3000:]
    assert "resumed from step" in err, err[-3000:]
    assert len(results(out)) == 2
    assert_same_runs(out, long_local, only=results(out))


@pytest.mark.parametrize("flags, message", [
    (["--gpus-per-run", "0.5"], "no node of the Ray cluster has"),
    (["--cpus-per-run", "2"], "no node of the Ray cluster has"),
    (["--device", "cuda"], "--gpus-per-run is 0"),
])
@pytest.mark.slow
def test_cluster_without_the_resources_fails_before_work(ray_cluster: RayCluster,
                                                         tmp_path: Path, flags: list[str],
                                                         message: str) -> None:
    done = ray_cluster.sweep([*GRID, *flags, "--out", str(tmp_path)], timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-3000:]
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_unreachable_address_fails_before_work(ray_cluster: RayCluster, tmp_path: Path) -> None:
    argv = prlstm_argv("sweep", "--engine", "ray", "--address", "10.213.0.2:6999", *GRID,
                       "--out", str(tmp_path))
    done = ray_cluster.hosts.run(0, argv, env=ray_cluster.env, timeout=120,
                                 preexec_fn=normal_priority)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "--address 10.213.0.2:6999: no Ray cluster reachable" in done.stderr
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_ray_not_installed_is_a_clear_error(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; from prlstm.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "sweep", "--engine", "ray", *GRID,
                           "--out", str(tmp_path)], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "pip install 'prlstm[ray]'" in done.stderr, done.stderr
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.slow
def test_killed_driver_rerun_finishes_only_missing_runs(ray_tmp: str, long_local: Path,
                                                        tmp_path: Path) -> None:
    """A local Ray instance (no --address) in a namespace with only ``lo``."""
    need_ray()
    need_namespaces()
    env = subprocess_env(ray_tmp)
    storage, out = tmp_path / "storage", tmp_path / "out"
    argv = prlstm_argv("sweep", "--engine", "ray", *LONG, "--seeds", "0", "1", "2",
                       "--storage", str(storage), "--out", str(out))
    with Hosts(1) as host:
        driver = host.popen(0, argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=normal_priority)
        try:
            wait_until(lambda: len(results(out)) >= 1, 240, "a first finished run")
        finally:
            host.kill_all(0)  # the driver and the Ray instance it started
            driver.wait(timeout=60)
        first, finished = set(results(out)), set(results(storage))
        assert 1 <= len(first) < 3 and first <= finished
        again = host.run(0, argv, env=env, timeout=300, preexec_fn=normal_priority)
    assert again.returncode == 0, again.stderr[-3000:]
    # finished runs are skipped (by the driver, or by the task if only storage has the result)
    assert statuses(again.stderr) == {"skipped": len(finished), "done": 3 - len(finished)}
    assert_same_runs(out, long_local)


PLUGIN_DRIVER = """
import sys
import torch
from prlstm import models
from prlstm.cli import main


class DriverCore(torch.nn.Module):
    def __init__(self, input_size, output_size, hidden_size):
        super().__init__()
        self.gru = torch.nn.GRU(input_size, hidden_size, batch_first=True)
        self.head = torch.nn.Linear(hidden_size, output_size)

    def forward(self, x):
        return self.head(self.gru(x)[0])


def build(input_size, output_size, hidden_size=4):
    return DriverCore(input_size, output_size, hidden_size)


models.register("driver_gru", build)
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_model_registered_in_the_driver_runs_on_cluster_workers(ray_cluster: RayCluster,
                                                                tmp_path: Path) -> None:
    """``models.register`` in the driver reaches the Ray workers (the factory, defined in the
    driver's ``__main__``, travels by value), with no package installed on the nodes."""
    argv = [sys.executable, "-c", PLUGIN_DRIVER, "sweep", "--engine", "ray", "--address",
            ray_cluster.address, "--preset", "smoke", "--models", "driver_gru", "--seeds", "0",
            "1", "--quiet", "--out", str(tmp_path)]
    done = ray_cluster.hosts.run(0, argv, env=ray_cluster.env, timeout=300,
                                 preexec_fn=normal_priority)
    assert done.returncode == 0, done.stderr[-3000:]
    finished = results(tmp_path)
    assert len(finished) == 2 and all("driver_gru" in run for run in finished), finished
