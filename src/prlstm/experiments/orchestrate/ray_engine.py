"""The Ray engine of ``prlstm sweep --engine ray``: every pending run is one Ray task.

Each task declares its resources (``num_cpus``, and fractional ``num_gpus`` so that several
small runs share one GPU) and calls the sweep's own per-run code, :func:`sweep.run_one`, on
the node Ray picks. Without shared storage a task trains in a temporary directory of its node
and returns the run's files (result, config, log, final checkpoint) by value; the driver writes
them atomically under ``--out``. With ``storage`` — a directory every node sees at the same
path, e.g. a network filesystem — the task trains in ``storage/<run id>``, checkpointing there,
so when its worker dies Ray's task retry (``max_retries``) resumes from the last checkpoint.

Ray is an optional dependency (the ``ray`` extra), imported only when this engine is entered.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import torch

from prlstm import models
from prlstm.experiments.orchestrate.sweep import (
    Job,
    Summary,
    restore_registrations,
    run_one,
    run_summary,
)
from prlstm.experiments.run import cpu_env
from prlstm.experiments.run.checkpoint import MANIFEST, has_checkpoint
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import RESULT_FILE
from prlstm.experiments.run.io import atomic_write, ensure_writable_dir

RunFiles = dict[str, bytes]  # file name in a run directory -> contents


def import_ray() -> ModuleType:
    """``import ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError("--engine ray needs Ray, which is not installed: "
                          "pip install 'prlstm[ray]' (or pip install 'ray[default]')") from err
    return ray


def pack_run(run_dir: Path) -> RunFiles:
    """The files of a run directory (flat; hidden temporaries left out)."""
    if not run_dir.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def _write_order(name: str) -> int:
    # data files first, then the manifest that points at them, result.json last: a reader that
    # sees a result (or a manifest) sees complete files behind it.
    return {MANIFEST: 2, RESULT_FILE: 3}.get(name, 0 if name.startswith("ckpt-") else 1)


def unpack_run(run_dir: Path, files: RunFiles) -> None:
    """Write ``files`` into ``run_dir`` atomically, then drop checkpoint files they replaced."""
    ensure_writable_dir(run_dir)
    for name in sorted(files, key=_write_order):
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"run file name {name!r} is not a plain file name")
        atomic_write(run_dir / name, lambda f, data=files[name]: f.write(data), binary=True)
    if MANIFEST in files:
        for old in run_dir.glob("ckpt-*"):
            if old.name not in files:
                old.unlink(missing_ok=True)


def run_task(config_data: dict[str, Any], storage: str | None, seed_files: RunFiles | None,
             threads: int, return_files: bool,
             plugins: dict[str, Any] | None = None) -> tuple[Summary, RunFiles]:
    """Body of one Ray task: :func:`run_one` in ``storage`` (or a temporary directory).

    ``seed_files`` (the driver's partial run, if any) start the run when the working directory
    has neither a checkpoint nor a result. Returns the summary (with the node's ``host``) and,
    if ``return_files``, the run directory's files. ``plugins`` are the driver's
    ``models.register`` entries (Ray pickles them with cloudpickle).
    """
    cpu_env.pin()  # a no-op under the driver's runtime_env; pins where the driver set nothing
    torch.set_num_threads(threads)
    restore_registrations(plugins or {})
    config = RunConfig.from_dict(config_data)
    scratch = None if storage else tempfile.mkdtemp(prefix="prlstm-run-")
    base = Path(storage or scratch or ".")
    run_dir = base / config.run_id()
    try:
        if seed_files and not has_checkpoint(run_dir) and not (run_dir / RESULT_FILE).exists():
            unpack_run(run_dir, seed_files)
        summary = run_one(config_data, str(base))
        summary["host"] = socket.gethostname() + "/" + _node_ip()
        return summary, (pack_run(run_dir) if return_files else {})
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _node_ip() -> str:
    import ray

    return ray.util.get_node_ip_address()


def probe_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast (ConnectionError naming ``address``) when nothing listens at ``host:port``."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address must be HOST:PORT (or ray://HOST:PORT, or auto), "
                         f"got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(f"--address {address}: no Ray cluster reachable there ({err}); "
                              "start one with `ray start --head` or fix the address") from err


class RayEngine:
    """Runs a sweep's pending runs as Ray tasks on a local Ray instance or a cluster.

    Args:
        address: ``HOST:PORT`` (or ``ray://HOST:PORT``, ``auto``) of an existing cluster;
            ``None`` starts a local Ray instance for the sweep.
        cpus_per_run: Ray ``num_cpus`` of each task (also its torch thread count).
        gpus_per_run: Ray ``num_gpus`` of each task; fractions pack runs on one GPU.
        storage: a directory at the same path on every node; runs train there and resume
            from their checkpoint after a worker died. ``None``: node-local scratch.
        max_retries: Ray retries of a task whose worker or node died.
        num_cpus: CPUs of a local instance (``address=None``); default all.
    """

    def __init__(self, address: str | None = None, *, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0, storage: str | Path | None = None,
                 max_retries: int = 3, num_cpus: int | None = None) -> None:
        if not cpus_per_run > 0:
            raise ValueError(f"--cpus-per-run must be > 0, got {cpus_per_run}")
        if not 0 <= gpus_per_run:
            raise ValueError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        if gpus_per_run > 1 and gpus_per_run != int(gpus_per_run):
            raise ValueError(f"--gpus-per-run above 1 must be a whole number, got {gpus_per_run}")
        if max_retries < 0:
            raise ValueError(f"--max-retries must be >= 0, got {max_retries}")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.storage = Path(storage).resolve() if storage is not None else None
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self._ray: ModuleType | None = None
        self._owns_ray = False

    def __enter__(self) -> RayEngine:
        ray = import_ray()
        if self.address not in (None, "auto"):
            probe_address(self.address)
        if not ray.is_initialized():
            options: dict[str, Any] = {"logging_level": logging.WARNING}
            if self.address is None:
                options.update(num_cpus=self.num_cpus, include_dashboard=False)
            try:
                ray.init(address=self.address or "local", **options)
            except Exception as err:  # Ray raises several types for a bad cluster
                raise ConnectionError(f"--address {self.address or '(local)'}: could not "
                                      f"connect to Ray: {type(err).__name__}: {err}") from err
            self._owns_ray = True
        self._ray = ray
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._ray is not None and self._owns_ray:
            self._ray.shutdown()
        self._ray, self._owns_ray = None, False

    def check(self, configs: list[RunConfig]) -> None:
        """Some alive node must offer a whole run's CPUs and GPUs; CUDA runs need GPUs."""
        assert self._ray is not None, "use RayEngine inside `with`"
        if self.gpus_per_run == 0:
            for config in configs:
                if config.device.startswith("cuda"):
                    raise ValueError(f"run {config.run_id()} asks for device {config.device!r} "
                                     "but --gpus-per-run is 0; give --gpus-per-run (e.g. 0.25)")
        nodes = [n["Resources"] for n in self._ray.nodes() if n.get("Alive")]
        if not any(n.get("CPU", 0) >= self.cpus_per_run and n.get("GPU", 0) >= self.gpus_per_run
                   for n in nodes):
            have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes)
            raise ValueError(f"no node of the Ray cluster has --cpus-per-run "
                             f"{self.cpus_per_run:g} and --gpus-per-run {self.gpus_per_run:g} "
                             f"free for one run (nodes: {have or 'none alive'})")

    def run(self, jobs: list[Job], out_dir: Path) -> Iterator[tuple[int, Summary]]:
        """Submit every job at once; yield summaries as ``ray.wait`` reports them finished."""
        ray = self._ray
        assert ray is not None, "use RayEngine inside `with`"
        storage = str(self.storage) if self.storage is not None else None
        return_files = self.storage is None or self.storage != Path(out_dir).resolve()
        if self.storage is not None:
            ensure_writable_dir(self.storage)
        # The driver's CPU settings (cpu_env: pinned, the user's, or off) as runtime_env
        # variables: Ray starts the tasks' workers with them, before they import torch, on
        # every node, whatever the environment of the `ray start` that made the node.
        task = ray.remote(run_task).options(
            num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
            max_retries=self.max_retries, retry_exceptions=False,
            runtime_env={"env_vars": cpu_env.worker_env()})
        threads = max(1, int(self.cpus_per_run))
        refs: dict[Any, Job] = {}
        for index, config in jobs:
            local = Path(out_dir) / config.run_id()
            seed = pack_run(local) if return_files and has_checkpoint(local) else None
            ref = task.remote(config.to_dict(), storage, seed, threads, return_files,
                              models.registered())
            refs[ref] = (index, config)
        try:
            while refs:
                (ready,), _ = ray.wait(list(refs), num_returns=1)
                index, config = refs.pop(ready)
                try:
                    summary, files = ray.get(ready)
                except ray.exceptions.RayError as err:
                    summary, files = run_summary(config, "failed", error=_short(err)), {}
                if files:
                    unpack_run(Path(out_dir) / config.run_id(), files)
                yield index, summary
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"

