"""Range evaluation and the score (docs/benchmark.md#evaluation-and-score).

For every length ``l = 1..M`` the fixed test set holds ``eval_per_length`` sequences in
sub-batches of ``eval_batch_size``; sub-batch ``j`` of length ``l`` is sampled with a seed derived
from ``(eval_seed, task, task options, l, j)`` only, so it is identical for every model and
training seed. ``accuracy(l)`` is the mean of the sub-batches' pooled masked accuracies; the
score is the mean of ``accuracy(l)`` over the test lengths ``N+1..M`` (not the reference
example's ``N+2..M``); a run is *solved* when its score is at least 0.90.
"""

from __future__ import annotations

import dataclasses
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

import prlstm
from prlstm.experiments.run import cpu_env
from prlstm.experiments.run.checkpoint import CheckpointError, load_checkpoint, read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.factory import build_model, build_task, model_config, parameter_count
from prlstm.experiments.run.io import (
    DIGEST_KEY,
    ensure_writable_dir,
    intact,
    read_json,
    write_digested_json,
)
from prlstm.experiments.run.metrics import masked_accuracy
from prlstm.experiments.run.seeding import derive_seed, resolve_device
from prlstm.experiments.run.trainlog import read_rows, steps_to_threshold
from prlstm.tasks import Task

RESULT_FILE = "result.json"
SOLVED_THRESHOLD = 0.90
# A run "fitted" its training range when its in-range accuracy (lengths 1..N) reaches this; one
# that did not fit says "not trained in this budget", not "does not generalise".
FIT_THRESHOLD = 0.90


def eval_batch_seed(config: RunConfig, length: int, sub_batch: int) -> int:
    """Seed of one test sub-batch; depends on the task and eval settings, not the model."""
    options = sorted(config.task_options.items())
    return derive_seed("eval", config.eval_seed, config.task, options, config.eval_batch_size,
                       length, sub_batch)


@torch.inference_mode()
def accuracy_at_lengths(model: nn.Module, task: Task, lengths: Sequence[int], batch_size: int,
                        sub_batches: int, seed_of: Callable[[int, int], int],
                        device: torch.device | str = "cpu", progress: bool = False,
                        desc: str = "eval") -> list[float]:
    """Mean pooled accuracy at each of ``lengths``, in eval mode (restored afterwards).

    Length ``l`` is scored on ``sub_batches`` batches of ``batch_size`` sequences, batch ``j``
    sampled with seed ``seed_of(l, j)``; its accuracy is the mean over those batches. Nothing
    is drawn from torch's global generator, so calling this never changes training.
    """
    was_training = model.training
    model.eval()
    accuracies: list[float] = []
    try:
        for length in tqdm(lengths, disable=not progress, dynamic_ncols=True, leave=False,
                           desc=desc):
            total = torch.zeros((), dtype=torch.float64, device=device)
            for j in range(sub_batches):
                batch = task.sample_batch(batch_size, length, seed=seed_of(length, j)).to(device)
                logits = model(batch.inputs, task.output_length(batch.inputs.shape[1]))
                total += masked_accuracy(logits, batch.targets, batch.mask).double()
            accuracies.append(total.item() / sub_batches)
    finally:
        model.train(was_training)
    return accuracies


def accuracy_by_length(model: nn.Module, task: Task, config: RunConfig,
                       device: torch.device | str = "cpu",
                       progress: bool = False) -> list[float]:
    """Accuracy on the fixed test set at each length ``1..config.eval_length`` (index ``l-1``)."""
    return accuracy_at_lengths(
        model, task, range(1, config.eval_length + 1), config.eval_batch_size,
        config.eval_per_length // config.eval_batch_size,
        lambda length, j: eval_batch_seed(config, length, j), device, progress,
        desc=f"eval {config.task}/{config.model}")


def val_batch_seed(config: RunConfig, length: int) -> int:
    """Seed of the validation batch of ``length``: its own purpose key, never a test batch."""
    options = sorted(config.task_options.items())
    return derive_seed("validation", config.val_seed, config.task, options,
                       config.val_per_length, length)


def validation_score(model: nn.Module, task: Task, config: RunConfig,
                     device: torch.device | str = "cpu") -> float:
    """Mean accuracy over the validation slice (``config.validation_lengths()``), one batch
    of ``val_per_length`` sequences per length; ``nan`` if the slice is empty."""
    lengths = config.validation_lengths()
    if not lengths:
        return float("nan")
    accuracies = accuracy_at_lengths(model, task, lengths, config.val_per_length, 1,
                                     lambda length, _: val_batch_seed(config, length), device)
    return sum(accuracies) / len(accuracies)


def in_range_accuracy(accuracies: Sequence[float], train_length: int) -> float:
    """Mean accuracy over the training lengths ``1..train_length`` (``nan`` if none)."""
    head = list(accuracies[:train_length])
    return sum(head) / len(head) if head else float("nan")


def score(accuracies: Sequence[float], train_length: int) -> float:
    """Mean accuracy over the test lengths ``train_length + 1 .. len(accuracies)``.

    With no length beyond the training range the score is ``nan``.
    """
    tail = list(accuracies[train_length:])
    return sum(tail) / len(tail) if tail else float("nan")


def _final_train_accuracy(run_dir: Path) -> float | None:
    """Training accuracy of the last logged window (None without a log)."""
    rows = read_rows(run_dir)
    return rows[-1].accuracy if rows else None


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the source tree holding ``prlstm``, or None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(prlstm.__file__).parent,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def evaluate_run(run_dir: str | Path, *, device: str | None = None,
                 progress: bool | None = None) -> dict[str, Any]:
    """Evaluate the finished run in ``run_dir`` and write its ``result.json`` atomically.

    Args:
        run_dir: a run directory whose checkpoint has reached ``config.steps``.
        device: evaluate on this device instead of the config's.
        progress: show a tqdm bar (default: when stderr is a terminal).

    Raises:
        CheckpointError: missing, corrupt, truncated or unfinished checkpoint.
        PermissionError: ``run_dir`` is not writable (checked before evaluating).
    """
    root = Path(run_dir)
    manifest = read_manifest(root)
    config = RunConfig.from_dict(manifest["config"])
    if manifest["step"] != config.steps:
        raise CheckpointError(f"training in {root} stopped at step {manifest['step']} of "
                              f"{config.steps}; resume it before evaluating")
    ensure_writable_dir(root)
    run_device = resolve_device(device or config.device)
    task = build_task(config)
    model = build_model(config, task, run_device)
    ckpt = load_checkpoint(root, model, config=config, device=run_device)
    show = sys.stderr.isatty() if progress is None else progress
    start = time.perf_counter()
    accuracies = accuracy_by_length(model, task, config, run_device, progress=show)
    eval_seconds = time.perf_counter() - start
    run_score = score(accuracies, config.train_length)
    in_range = in_range_accuracy(accuracies, config.train_length)
    validation: dict[str, Any] | None = None
    if config.val_every:
        validation = {"every": config.val_every, "lengths": config.validation_lengths(),
                      "per_length": config.val_per_length, "seed": config.val_seed,
                      "seconds": ckpt.extra.get("val_seconds")}
    result = {
        "task": config.task,
        "level": task.level,
        "model": config.model,
        "preset": config.preset,
        "seed": config.seed,
        "lr": config.lr,
        "steps": ckpt.step,
        "score": run_score,
        "solved": bool(run_score >= SOLVED_THRESHOLD),
        "in_range_accuracy": in_range,
        "fitted": bool(in_range >= FIT_THRESHOLD),
        "validation": validation,
        **({"steps_to_generalise": steps_to_threshold(read_rows(root), SOLVED_THRESHOLD)}
           if validation else {}),
        "final_train_accuracy": _final_train_accuracy(root),
        "train_length": config.train_length,
        "lengths": list(range(1, len(accuracies) + 1)),
        "accuracy": accuracies,
        "train_seconds": ckpt.extra.get("train_seconds"),
        "train_cpu_seconds": ckpt.extra.get("train_cpu_seconds"),
        "eval_seconds": eval_seconds,
        "train_device": ckpt.extra.get("device"),
        "device": str(run_device),
        "parameters": parameter_count(model),
        "model_config": model_config(model),
        "config": config.to_dict(),
        "torch_version": torch.__version__,
        # bit-exact re-training needs the same torch build and CPU kernels (ISA level)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # and the same oneMKL/oneDNN settings: what this process ran (docs/reproducibility.md)
        "cpu_env": cpu_env.settings(),
        "train_threads": ckpt.extra.get("threads"),
        "python_version": platform.python_version(),
        "prlstm_version": prlstm.__version__,
        "git_commit": git_commit(),
        "run_id": config.run_id(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_digested_json(root / RESULT_FILE, result)
    return result


def evaluate_extra_lengths(run_dir: str | Path, lengths: Sequence[int], *,
                           per_length: int = 16, batch_size: int = 4,
                           device: str | None = None,
                           progress: bool | None = None) -> dict[str, Any]:
    """Accuracy of a finished, evaluated run at ``lengths`` beyond its test range, written
    into its ``result.json`` under ``extra_lengths`` (the score and every other field stay).

    Each length gets ``per_length`` sequences in batches of ``batch_size`` drawn from the test
    set's own seed derivation (the same sequences for every model). Lengths evaluated before
    are replaced, others kept. Returns the updated result.

    Raises:
        ValueError: a length is not an integer above the run's ``eval_length``, or
            ``per_length`` is not a positive multiple of ``batch_size``.
        FileNotFoundError: the run has no ``result.json`` yet (evaluate it first).
        CheckpointError: the run's checkpoint is missing or unfinished.
    """
    root = Path(run_dir)
    path = root / RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `prlstm eval {root}` first")
    manifest = read_manifest(root)
    config = RunConfig.from_dict(manifest["config"])
    bad = [n for n in lengths
           if isinstance(n, bool) or not isinstance(n, int) or n <= config.eval_length]
    if not lengths or bad:
        raise ValueError(f"lengths must be integers above the run's eval_length "
                         f"({config.eval_length}), got {list(lengths)!r}")
    if (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
            or isinstance(per_length, bool) or not isinstance(per_length, int)
            or per_length < 1 or per_length % batch_size):
        raise ValueError(f"per_length ({per_length!r}) must be a positive multiple of "
                         f"batch_size ({batch_size!r})")
    run_device = resolve_device(device or config.device)
    task = build_task(config)
    model = build_model(config, task, run_device)
    load_checkpoint(root, model, config=config, device=run_device)
    show = sys.stderr.isatty() if progress is None else progress
    ordered = sorted(set(lengths))
    start = time.perf_counter()
    accuracies = accuracy_at_lengths(
        model, task, ordered, batch_size, per_length // batch_size,
        lambda length, j: eval_batch_seed(dataclasses.replace(config, eval_batch_size=batch_size),
                                          length, j),
        run_device, show, desc=f"extra lengths {config.task}/{config.model}")
    result = read_json(path)
    if not intact(result):
        raise ValueError(f"{path} does not match its digest (damaged?); re-evaluate the run "
                         f"with `prlstm eval {root}` first")
    extra = {int(k): v for k, v in (result.get("extra_lengths") or {}).get("accuracy", {}).items()}
    extra.update(zip(ordered, accuracies, strict=True))
    result["extra_lengths"] = {"per_length": per_length,
                               "seconds": time.perf_counter() - start,
                               "accuracy": {str(k): extra[k] for k in sorted(extra)}}
    result.pop(DIGEST_KEY, None)  # the returned dict, like the other results, without it
    write_digested_json(path, result)
    return result
