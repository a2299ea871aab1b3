"""Sweeps: every (task, model, seed, lr) run, trained then evaluated, resumable, in parallel.

Each run lives in ``OUT/<run id>`` (see :meth:`RunConfig.run_id`). A run whose ``result.json``
exists is skipped; a run with a checkpoint but no result is resumed; so re-running a killed
sweep finishes the remaining work only. With ``workers > 1`` runs execute in a spawned process
pool, each worker with ``cpu_count // workers`` torch threads.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from prlstm.experiments.checkpoint import has_checkpoint, read_manifest
from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.factory import build_model, build_task
from prlstm.experiments.io import ensure_writable_dir, intact, read_json
from prlstm.experiments.lock import lock_dir
from prlstm.experiments.train import train

# Rough relative cost of one training step, used only to start the longest runs first.
_STEP_COST = {"pr_lstm": 6.0, "pr_gru": 5.0, "pr_rnn": 3.0, "transformer": 10.0}


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


def run_one(config_data: dict[str, Any], out_dir: str, progress: bool = False) -> dict[str, Any]:
    """Train (or resume) and evaluate one run unless it is already finished.

    Returns a summary dict with ``status`` in ``{"skipped", "done", "failed"}``; a failure is
    reported rather than raised so that one bad run does not stop a sweep.
    """
    config = RunConfig.from_dict(config_data)
    run_dir = Path(out_dir) / config.run_id()
    summary: dict[str, Any] = {"run_id": config.run_id(), "task": config.task,
                               "model": config.model, "seed": config.seed, "lr": config.lr}
    try:
        result = finished_result(run_dir, config)
        if result is None:
            resume = has_checkpoint(run_dir)
            if not resume or read_manifest(run_dir)["step"] < config.steps:
                train(config, run_dir, resume=resume, progress=progress)
            result = evaluate_run(run_dir, progress=progress)
            summary["status"] = "done"
        else:
            summary["status"] = "skipped"
    except Exception as err:  # reported per run; the sweep goes on
        summary.update(status="failed", error=f"{type(err).__name__}: {err}")
        return summary
    summary.update(score=result["score"], solved=result["solved"],
                   train_seconds=result["train_seconds"], eval_seconds=result["eval_seconds"])
    return summary


def validate(configs: Iterable[RunConfig]) -> None:
    """Build every distinct task/model once so bad names or options fail before any training."""
    seen: set[str] = set()
    for config in configs:
        key = repr((config.task, config.task_options, config.model, config.hparams))
        if key not in seen:
            seen.add(key)
            build_model(config, build_task(config), "cpu")


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _cost(config: RunConfig) -> float:
    return config.steps * _STEP_COST.get(config.model, 1.0)


def run_sweep(configs: list[RunConfig], out_dir: str | Path, *, workers: int = 1,
              progress: bool | None = None,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run all ``configs`` under ``out_dir``; returns one summary per run (input order).

    Raises:
        ValueError: a config names an unknown task/model or incompatible options.
        PermissionError, FileExistsError: ``out_dir`` cannot be used.
        DirectoryLocked: another sweep is running on ``out_dir``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    validate(configs)
    root = ensure_writable_dir(out_dir)
    show = sys.stderr.isatty() if progress is None else progress
    order = sorted(range(len(configs)), key=lambda i: -_cost(configs[i]))
    summaries: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=len(configs), disable=not show, desc="sweep", dynamic_ncols=True)

    def record(index: int, summary: dict[str, Any]) -> None:
        summaries[index] = summary
        bar.update(1)
        if on_result is not None:
            on_result(summary)

    with lock_dir(root), bar:  # one sweep per directory: a second one is refused
        if workers == 1 or len(configs) <= 1:
            for i in order:
                record(i, run_one(configs[i].to_dict(), str(root), show))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                futures = {pool.submit(run_one, configs[i].to_dict(), str(root), False): i
                           for i in order}
                for future in as_completed(futures):
                    record(futures[future], future.result())
    return [summaries[i] for i in range(len(configs))]
