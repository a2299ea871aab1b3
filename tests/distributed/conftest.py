"""Fixtures for the distributed tests: namespaces, a 2-node Ray cluster, the subprocess env.

Ray runs only inside namespaces made here (see ``netns.py``): a head in one, a worker node in
another, joined by a veth pair — two real hosts of a private network. Each node offers 1 CPU, no
GPU and an 80 MB object store, without dashboard or usage stats. Ray's files go to a private
temporary directory (``RAY_TMPDIR``), removed afterwards, so nothing here can meet another Ray.

CPU etiquette on a busy machine: Ray's daemons must start within Ray's fixed 30 s, which a
process at niceness 15 on a loaded machine misses, so they (and the drivers that start a local
Ray) run at normal priority (``normal_priority``) while every Ray worker process — where the
training happens — runs at niceness 15 (``RAY_worker_niceness``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.distributed.netns import Hosts, unavailable_reason

SRC = str(Path(__file__).resolve().parents[2] / "src")
RAY_PORT = 6379
NODE_FLAGS = ["--num-cpus", "1", "--num-gpus", "0", "--object-store-memory", "80000000",
              "--disable-usage-stats"]


def console_script(name: str) -> str:
    """The path of console script ``name`` installed beside this interpreter (``ray``,
    ``torchrun``, …), so that a virtual environment's tools are found without activating it;
    falls back to ``PATH``."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"console script {name!r} is neither beside {sys.executable} nor on PATH")
    return found


def subprocess_env(ray_tmp: str | None = None) -> dict[str, str]:
    """The environment of every child: this checkout's ``prlstm``, one thread, quiet Ray, and
    this interpreter's ``bin`` first on ``PATH`` (children that start console scripts by name,
    as Ray's own daemons do, then find this environment's)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0", GLOO_SOCKET_IFNAME="lo",
               PYTHONUNBUFFERED="1", RAY_worker_niceness="15", RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    if ray_tmp is not None:
        env["RAY_TMPDIR"] = ray_tmp
    return env


def normal_priority() -> None:
    """``preexec_fn``: niceness 0 for Ray daemons and drivers (no-op where not permitted)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def prlstm_argv(*args: str) -> list[str]:
    """``prlstm ARGS`` with this interpreter."""
    return [sys.executable, "-m", "prlstm.cli", *args]


def need_namespaces() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"cannot create network namespaces for Ray ({reason}); these tests only "
                    "run Ray inside namespaces they make")


def need_ray() -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]')")


@dataclass
class RayCluster:
    """A head (namespace 0, ``10.213.0.1``) and a worker node (namespace 1, ``10.213.0.2``)."""

    hosts: Hosts
    env: dict[str, str]

    @property
    def address(self) -> str:
        return f"{self.hosts.addresses[0]}:{RAY_PORT}"

    def sweep(self, args: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """``prlstm sweep --engine ray --address HEAD ARGS`` as a driver on the head host."""
        argv = prlstm_argv("sweep", "--engine", "ray", "--address", self.address, *args)
        return self.hosts.run(0, argv, env=self.env, timeout=timeout,
                              preexec_fn=normal_priority)

    def driver(self, args: Sequence[str]) -> subprocess.Popen:
        """The same, started in the background (stderr piped)."""
        argv = prlstm_argv("sweep", "--engine", "ray", "--address", self.address, *args)
        return self.hosts.popen(0, argv, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, preexec_fn=normal_priority)


@pytest.fixture
def ray_tmp() -> Iterator[str]:
    """A private, short (unix sockets live there) Ray temporary directory."""
    path = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A 2-node Ray cluster on two namespaced hosts, for the tests of one module."""
    need_ray()
    need_namespaces()
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = subprocess_env(tmp)
    try:
        with Hosts(2, link=True) as hosts:
            cluster = RayCluster(hosts, env)
            ray = console_script("ray")
            head = [ray, "start", "--head", "--node-ip-address", hosts.addresses[0],
                    "--port", str(RAY_PORT), "--include-dashboard=false", *NODE_FLAGS]
            worker = [ray, "start", "--address", cluster.address, "--node-ip-address",
                      hosts.addresses[1], *NODE_FLAGS]
            for host, argv in ((0, head), (1, worker)):
                started = hosts.run(host, argv, env=env, timeout=120,
                                    preexec_fn=normal_priority)
                assert started.returncode == 0, started.stdout + started.stderr
            yield cluster
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wait_until(condition, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
