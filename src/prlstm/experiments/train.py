"""Training (benchmark.md §5): Adam at a constant lr, global-norm clipping, uniform curriculum.

Two additions that the protocol's default leaves off: ``lr_decay_fraction`` (a linear decay of the
lr over the last updates, used by the small-budget presets only) and ``val_every`` (a small
out-of-range validation slice scored during training and logged; it draws nothing from the
training streams and never selects weights — the final weights are evaluated).

One *step* is one optimiser update; ``config.steps`` updates are performed (the reference code
runs ``steps + 1`` because its loop bound is inclusive — a quirk this project does not copy).
Update ``s`` (1-based) trains on a batch of length ``L_s ~ U{1..N}`` drawn with a seed derived
from ``(seed, s)``, and that batch is sampled with another seed derived from ``(seed, s)``; the
model's initial weights and the dropout stream (torch's global generator) come from seeds
derived from ``seed``. Checkpoints save the weights, the optimizer and the RNG states, so a run
resumed from any checkpoint reaches bit-identical weights on the CPU.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from prlstm.experiments.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from prlstm.experiments.config import RunConfig
from prlstm.experiments.distributed import DataParallel
from prlstm.experiments.evaluate import validation_score
from prlstm.experiments.factory import build_model, build_task
from prlstm.experiments.interrupt import StopRequest
from prlstm.experiments.io import ensure_writable_dir, write_json
from prlstm.experiments.metrics import batch_metrics
from prlstm.experiments.seeding import curriculum_length, derive_seed, resolve_device
from prlstm.experiments.trainlog import LogRow, TrainLog

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class TrainSummary:
    """What :func:`train` did: final step, training seconds (warm-up excluded), device."""

    run_dir: Path
    step: int
    train_seconds: float
    device: str
    resumed_from: int


class _Window:
    """Loss/accuracy/gradient-norm statistics since the last log row, kept on the device (no
    per-step sync)."""

    def __init__(self, device: torch.device, state: dict[str, float] | None = None) -> None:
        state = {"loss": 0.0, "accuracy": 0.0, "grad_norm": 0.0, "grad_norm_max": 0.0,
                 "count": 0, **(state or {})}
        def tensor(key: str) -> torch.Tensor:
            return torch.tensor(state[key], dtype=torch.float64, device=device)

        self.loss, self.accuracy = tensor("loss"), tensor("accuracy")
        self.grad_norm, self.grad_norm_max = tensor("grad_norm"), tensor("grad_norm_max")
        self.count = int(state["count"])

    def add(self, loss: torch.Tensor, accuracy: torch.Tensor, grad_norm: torch.Tensor) -> None:
        self.loss += loss.detach().double()
        self.accuracy += accuracy.double()
        norm = grad_norm.detach().double()
        self.grad_norm += norm
        torch.maximum(self.grad_norm_max, norm, out=self.grad_norm_max)
        self.count += 1

    def state(self) -> dict[str, float]:
        return {"loss": self.loss.item(), "accuracy": self.accuracy.item(),
                "grad_norm": self.grad_norm.item(), "grad_norm_max": self.grad_norm_max.item(),
                "count": self.count}

    def pop_means(self) -> tuple[float, float, float, float]:
        """``(mean loss, mean accuracy, mean grad norm, max grad norm)``; then resets."""
        n = max(self.count, 1)
        means = (self.loss.item() / n, self.accuracy.item() / n, self.grad_norm.item() / n,
                 self.grad_norm_max.item())
        for t in (self.loss, self.accuracy, self.grad_norm, self.grad_norm_max):
            t.zero_()
        self.count = 0
        return means


def prepare_run_dir(config: RunConfig, run_dir: str | Path, *, resume: bool) -> Path:
    """Check that ``run_dir`` can host this run; raise before anything is written otherwise.

    Raises:
        FileExistsError: it already holds a checkpoint and ``resume`` is False.
        FileNotFoundError: ``resume`` is True but there is no checkpoint.
        PermissionError: the directory cannot be created or written.
    """
    root = Path(run_dir)
    if resume and not has_checkpoint(root):
        raise FileNotFoundError(f"cannot resume: no checkpoint in {root}")
    if not resume and has_checkpoint(root):
        raise FileExistsError(f"{root} already holds a checkpoint; resume it (--resume) or "
                              "choose another output directory")
    return ensure_writable_dir(root)


def train(config: RunConfig, run_dir: str | Path, *, resume: bool = False,
          progress: bool | None = None,
          on_step: Callable[[int], None] | None = None) -> TrainSummary:
    """Train ``config`` in ``run_dir`` (config.json, train_log.csv, checkpoint files).

    Args:
        config: the run.
        run_dir: the run's directory (created if needed).
        resume: continue from the checkpoint in ``run_dir`` (it must exist and match).
        progress: show a tqdm bar (default: when stderr is a terminal).
        on_step: called with the step number after every update (after its log row and
            checkpoint, if any); an exception it raises aborts training like a crash would.

    Raises:
        KeyboardInterrupt: after Ctrl-C, once a checkpoint of the last update is saved.
    """
    device = resolve_device(config.device)
    ddp = DataParallel.from_env(config.batch_size, device)  # no-op unless under torchrun
    device = ddp.device(device)
    task = build_task(config)
    model = build_model(config, task, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    root = prepare_run_dir(config, run_dir, resume=resume)
    start, seconds, val_seconds, window_state = 0, 0.0, 0.0, None
    if resume:
        ckpt = load_checkpoint(root, model, optimizer, config=config, device=device)
        restore_rng_state(ckpt.rng)
        start, seconds = ckpt.step, float(ckpt.extra.get("train_seconds", 0.0))
        val_seconds = float(ckpt.extra.get("val_seconds", 0.0))
        window_state = ckpt.extra.get("window")
    elif ddp.is_writer:
        write_json(root / CONFIG_FILE, config.to_dict())
    log = TrainLog(root, keep_until=start) if ddp.is_writer else None
    window = _Window(device, window_state)
    model.train()
    net = ddp.wrap(model)

    def checkpoint(step: int, wall: float) -> None:
        extra = {"train_seconds": wall, "val_seconds": val_seconds, "window": window.state(),
                 "device": str(device), "threads": torch.get_num_threads()}
        if ddp.is_writer:
            save_checkpoint(root, config, step, model, optimizer, extra)

    show = (sys.stderr.isatty() if progress is None else progress) and ddp.is_writer
    bar = tqdm(total=config.steps, initial=start, disable=not show, dynamic_ncols=True,
               desc=f"{config.task}/{config.model}", leave=False)
    step, wall, session_start = start, seconds, None
    with StopRequest() as stop, bar:
        for step in range(start + 1, config.steps + 1):
            length = curriculum_length(config.seed, step, config.train_length)
            batch = ddp.shard(task.sample_batch(config.batch_size, length,
                                                seed=derive_seed("batch", config.seed, step)))
            batch = batch.to(device)
            logits = net(batch.inputs, task.output_length(batch.inputs.shape[1]))
            loss, accuracy = batch_metrics(logits, batch.targets, batch.mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            lr = config.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            window.add(loss, accuracy, grad_norm)
            bar.update(1)
            is_val = bool(config.val_every) and (step % config.val_every == 0
                                                 or step == config.steps)
            is_log = step % config.log_every == 0 or step in (1, config.steps) or is_val
            is_ckpt = step % config.ckpt_every == 0 or step == config.steps or stop.requested
            if session_start is None or is_log or is_ckpt:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                now = time.perf_counter()
                session_start = now if session_start is None else session_start
                wall = seconds + (now - session_start)
            if is_log:
                val = math.nan
                if is_val:  # every rank validates its (identical) replica; rank 0 logs
                    val_start = time.perf_counter()
                    val = validation_score(model, task, config, device)
                    spent = time.perf_counter() - val_start
                    val_seconds += spent
                    session_start += spent  # validation time is not training time
                ddp.average_(window.loss, window.accuracy)
                mean_loss, mean_acc, mean_norm, max_norm = window.pop_means()
                if log is not None:
                    log.append(LogRow(step, mean_loss, mean_acc, wall, mean_norm, max_norm, lr,
                                      val))
                bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{mean_acc:.3f}",
                                **({"val": f"{val:.3f}"} if is_val else {}))
            if is_ckpt:
                checkpoint(step, wall)
            if stop.requested:
                raise KeyboardInterrupt(f"interrupted after step {step}; checkpoint saved in "
                                        f"{root}")
            if on_step is not None:
                on_step(step)
    ddp.sync()  # no rank returns before rank 0 has written the last checkpoint
    return TrainSummary(run_dir=root, step=step, train_seconds=wall, device=str(device),
                        resumed_from=start)
