"""Range evaluation and the score (benchmark.md §6, with this project's decisions).

For every length ``l = 1..M`` the fixed test set holds ``eval_per_length`` sequences in
sub-batches of ``eval_batch_size``; sub-batch ``j`` of length ``l`` is sampled with a seed derived
from ``(eval_seed, task, task options, l, j)`` only, so it is identical for every model and
training seed. ``accuracy(l)`` is the mean of the sub-batches' pooled masked accuracies; the
score is the mean of ``accuracy(l)`` over the test lengths ``N+1..M`` (not the reference
example's ``N+2..M``); a run is *solved* when its score is at least 0.90.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

import prlstm
from prlstm.experiments.checkpoint import CheckpointError, load_checkpoint, read_manifest
from prlstm.experiments.config import RunConfig
from prlstm.experiments.factory import build_model, build_task, model_config, parameter_count
from prlstm.experiments.io import ensure_writable_dir, with_digest, write_json
from prlstm.experiments.metrics import masked_accuracy
from prlstm.experiments.seeding import derive_seed, resolve_device
from prlstm.tasks import Task

RESULT_FILE = "result.json"
SOLVED_THRESHOLD = 0.90


def eval_batch_seed(config: RunConfig, length: int, sub_batch: int) -> int:
    """Seed of one test sub-batch; depends on the task and eval settings, not the model."""
    options = sorted(config.task_options.items())
    return derive_seed("eval", config.eval_seed, config.task, options, config.eval_batch_size,
                       length, sub_batch)


@torch.inference_mode()
def accuracy_by_length(model: nn.Module, task: Task, config: RunConfig,
                       device: torch.device | str = "cpu",
                       progress: bool = False) -> list[float]:
    """Accuracy at each length ``1..config.eval_length`` (list index ``l - 1``)."""
    was_training = model.training
    model.eval()
    accuracies: list[float] = []
    lengths = range(1, config.eval_length + 1)
    n_sub = config.eval_per_length // config.eval_batch_size
    try:
        for length in tqdm(lengths, disable=not progress, dynamic_ncols=True, leave=False,
                           desc=f"eval {config.task}/{config.model}"):
            total = torch.zeros((), dtype=torch.float64, device=device)
            for j in range(n_sub):
                batch = task.sample_batch(config.eval_batch_size, length,
                                          seed=eval_batch_seed(config, length, j)).to(device)
                logits = model(batch.inputs, task.output_length(batch.inputs.shape[1]))
                total += masked_accuracy(logits, batch.targets, batch.mask).double()
            accuracies.append(total.item() / n_sub)
    finally:
        model.train(was_training)
    return accuracies


def score(accuracies: Sequence[float], train_length: int) -> float:
    """Mean accuracy over the test lengths ``train_length + 1 .. len(accuracies)``.

    With no length beyond the training range the score is ``nan``.
    """
    tail = list(accuracies[train_length:])
    return sum(tail) / len(tail) if tail else float("nan")


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
        "train_length": config.train_length,
        "lengths": list(range(1, len(accuracies) + 1)),
        "accuracy": accuracies,
        "train_seconds": ckpt.extra.get("train_seconds"),
        "eval_seconds": eval_seconds,
        "train_device": ckpt.extra.get("device"),
        "device": str(run_device),
        "parameters": parameter_count(model),
        "model_config": model_config(model),
        "config": config.to_dict(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "prlstm_version": prlstm.__version__,
        "git_commit": git_commit(),
        "run_id": config.run_id(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(root / RESULT_FILE, with_digest(result))
    return result
