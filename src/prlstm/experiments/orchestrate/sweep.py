"""Sweeps: every (task, model, seed, lr) run, trained then evaluated, resumable, on an engine.

Each run lives in ``OUT/<run id>`` (see :meth:`RunConfig.run_id`). A run whose ``result.json``
exists is skipped by the driver; a run with a checkpoint but no result is resumed; so
re-running a killed sweep finishes the remaining work only.

Where the pending runs execute is an *engine*: :class:`LocalEngine` (default) runs them in this
process or in a spawned process pool, each worker with ``cpu_count // workers`` torch threads;
``prlstm.experiments.orchestrate.ray_engine.RayEngine`` makes each run a Ray task. Every
engine calls the same per-run code, :func:`run_one`, so a run computes the same numbers
wherever it runs.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import torch
from tqdm import tqdm

from prlstm import models
from prlstm.experiments.orchestrate.tuning import final_validation_score
from prlstm.experiments.run import cpu_env
from prlstm.experiments.run.checkpoint import has_checkpoint, read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.io import ensure_writable_dir, intact, read_json
from prlstm.experiments.run.lock import lock_dir
from prlstm.experiments.run.train import train

# Rough relative cost of one training step, used only to start the longest runs first.
_STEP_COST = {"pr_lstm": 6.0, "pr_gru": 5.0, "pr_rnn": 3.0, "transformer": 10.0}

Summary = dict[str, Any]
Job = tuple[int, RunConfig]  # (index in the sweep's config list, the run)


def finished_result(run_dir: Path, config: RunConfig) -> dict[str, Any] | None:
    """The run's result if ``result.json`` exists, parses and belongs to ``config``."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = read_json(path)
        if not intact(result):
            return None
        saved = RunConfig.from_dict(result["config"])
    except (ValueError, KeyError, TypeError):
        return None
    return result if not saved.differences(config) else None


def trained(run_dir: Path, config: RunConfig) -> bool:
    """Whether ``run_dir`` holds a checkpoint of ``config`` that has reached its last step."""
    if not has_checkpoint(run_dir):
        return False
    try:
        manifest = read_manifest(run_dir)
        saved = RunConfig.from_dict(manifest["config"])
    except (ValueError, KeyError, TypeError, OSError):
        return False
    return manifest["step"] == config.steps and not saved.differences(config)


def validated(run_dir: Path) -> dict[str, Any]:
    """A tuning run's summary fields: its final validation score and training seconds."""
    return {"val_score": final_validation_score(run_dir),
            "train_seconds": read_manifest(run_dir)["extra"].get("train_seconds")}


def run_summary(config: RunConfig, status: str,
                result: dict[str, Any] | None = None, **extra: Any) -> Summary:
    """The summary row of one run: identity, ``status``, and the result's score and timings."""
    summary: Summary = {"run_id": config.run_id(), "task": config.task, "model": config.model,
                        "seed": config.seed, "lr": config.lr, "status": status, **extra}
    if result is not None:
        summary.update(score=result["score"], solved=result["solved"],
                       train_seconds=result["train_seconds"],
                       eval_seconds=result["eval_seconds"])
    return summary


def run_one(config_data: dict[str, Any], out_dir: str, progress: bool = False) -> Summary:
    """Train (or resume) and evaluate one run unless it is already finished.

    Returns a summary dict with ``status`` in ``{"skipped", "done", "failed"}`` (and
    ``resumed_from``, the checkpoint step training continued from, 0 for a fresh run); a failure
    is reported rather than raised so that one bad run does not stop a sweep.
    """
    config = RunConfig.from_dict(config_data)
    run_dir = Path(out_dir) / config.run_id()
    try:
        result = finished_result(run_dir, config)
        if result is not None:
            return run_summary(config, "skipped", result)
        resume = has_checkpoint(run_dir)
        resumed_from = read_manifest(run_dir)["step"] if resume else 0
        if not config.test and trained(run_dir, config):
            return run_summary(config, "skipped", **validated(run_dir))
        if resumed_from < config.steps:
            train(config, run_dir, resume=resume, progress=progress)
        if not config.test:  # a tuning run: validation only, the test set is never scored
            return run_summary(config, "done", resumed_from=resumed_from, **validated(run_dir))
        result = evaluate_run(run_dir, progress=progress)
    except Exception as err:  # reported per run; the sweep goes on
        return run_summary(config, "failed", error=f"{type(err).__name__}: {err}")
    return run_summary(config, "done", result, resumed_from=resumed_from)


def validate(configs: Iterable[RunConfig]) -> None:
    """Build every distinct task/model once so bad names or options fail before any training."""
    seen: set[str] = set()
    for config in configs:
        key = repr((config.task, config.task_options, config.model, config.hparams))
        if key not in seen:
            seen.add(key)
            build_model(config, build_task(config), "cpu")


class Engine(Protocol):
    """Where a sweep's pending runs execute.

    ``with engine:`` acquires what it needs (processes, a cluster connection) and must raise —
    before any run starts — when it cannot run ``configs``' runs (see :meth:`check`);
    :meth:`run` then yields ``(index, summary)`` pairs as runs finish, in any order, one per job.
    """

    def __enter__(self) -> Engine: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def check(self, configs: list[RunConfig]) -> None: ...

    def run(self, jobs: list[Job], out_dir: Path) -> Iterator[tuple[int, Summary]]: ...


def _init_worker(threads: int, plugins: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
    # Spawned workers inherit the driver's environment, pinned CPU settings included
    # (cpu_env), from their start; ``env`` sets them again for start methods that do not
    # (a forkserver started earlier) before this worker's first torch operation.
    os.environ.update(env or {})
    torch.set_num_threads(threads)
    restore_registrations(plugins or {})


def restore_registrations(specs: dict[str, Any]) -> None:
    """In a worker process: the models the driver registered with ``models.register``."""
    for name, spec in specs.items():
        models.register(name, spec, replace=True)


def shippable_registrations() -> dict[str, Any]:
    """The driver's ``models.register`` entries, checked to survive pickling into workers."""
    specs = models.registered()
    for name, spec in specs.items():
        try:
            pickle.dumps(spec)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise ValueError(f"model {name!r} was registered with a factory that cannot be "
                             f"sent to worker processes ({err}); define the factory at module "
                             f"level, or use --workers 1") from None
    return specs


class LocalEngine:
    """Runs in this process (``workers == 1``) or in a pool of spawned processes."""

    def __init__(self, workers: int = 1, progress: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.progress = progress

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def check(self, configs: list[RunConfig]) -> None:
        """Nothing to check: the local machine runs whatever :func:`validate` accepted."""

    def run(self, jobs: list[Job], out_dir: Path) -> Iterator[tuple[int, Summary]]:
        """Run ``jobs`` in the given order (serially) or as pool slots free up."""
        if self.workers == 1 or len(jobs) <= 1:
            for index, config in jobs:
                yield index, run_one(config.to_dict(), str(out_dir), self.progress)
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        context = multiprocessing.get_context("spawn")
        plugins = shippable_registrations()
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                 initializer=_init_worker,
                                 initargs=(threads, plugins, cpu_env.worker_env())) as pool:
            futures = {pool.submit(run_one, config.to_dict(), str(out_dir), False): index
                       for index, config in jobs}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _cost(config: RunConfig) -> float:
    return config.steps * _STEP_COST.get(config.model, 1.0)


def pending_jobs(configs: list[RunConfig], root: Path) -> tuple[list[Job], dict[int, Summary]]:
    """Split the grid into runs still to do (longest first) and summaries of finished ones."""
    finished: dict[int, Summary] = {}
    pending: list[Job] = []
    for index, config in enumerate(configs):
        result = finished_result(root / config.run_id(), config)
        if result is None:
            pending.append((index, config))
        else:
            finished[index] = run_summary(config, "skipped", result)
    pending.sort(key=lambda job: -_cost(job[1]))
    return pending, finished


def run_sweep(configs: list[RunConfig], out_dir: str | Path, *, workers: int = 1,
              engine: Engine | None = None, progress: bool | None = None,
              on_result: Callable[[Summary], None] | None = None) -> list[Summary]:
    """Run all ``configs`` under ``out_dir``; returns one summary per run (input order).

    Args:
        configs: the grid.
        out_dir: results directory (one sub-directory per run id).
        workers: local worker processes (ignored when ``engine`` is given).
        engine: where to run; default ``LocalEngine(workers)``.
        progress: show a tqdm bar (default: when stderr is a terminal).
        on_result: called with each summary as its run finishes (skipped runs first).

    Raises:
        ValueError: a config names an unknown task/model or incompatible options, or the
            engine cannot run them (checked before any run starts).
        PermissionError, FileExistsError: ``out_dir`` cannot be used.
        DirectoryLocked: another sweep is running on ``out_dir``.
    """
    show = sys.stderr.isatty() if progress is None else progress
    if engine is None:
        engine = LocalEngine(workers, progress=show)
    validate(configs)
    root = ensure_writable_dir(out_dir)
    pending, summaries = pending_jobs(configs, root)
    bar = tqdm(total=len(configs), disable=not show, desc="sweep", dynamic_ncols=True)

    def record(index: int, summary: Summary) -> None:
        summaries[index] = summary
        bar.update(1)
        if on_result is not None:
            on_result(summary)

    with lock_dir(root), bar:  # one sweep per directory: a second one is refused
        for index in sorted(summaries):
            record(index, summaries[index])
        if pending:
            with engine:
                engine.check([config for _, config in pending])
                for index, summary in engine.run(pending, root):
                    record(index, summary)
    return [summaries[i] for i in range(len(configs))]
