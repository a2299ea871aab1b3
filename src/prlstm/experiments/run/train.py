"""Training: Adam at a constant lr, global-norm clipping, uniform curriculum.

The protocol is docs/benchmark.md#training.

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

One trainer per run directory: :func:`train` holds ``RUN_DIR/.train.lock`` while it writes
(:func:`prlstm.experiments.run.lock.lock_run_dir`), so a second ``prlstm train`` on the same
directory is refused instead of interleaving its log and checkpoints with the first. A loss or
gradient norm that becomes NaN or infinite stops training with a ``ValueError`` naming the
step, before that step's log row or checkpoint is written: the last checkpoint stays the last
finite one.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from prlstm.experiments.run.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.distributed import DataParallel
from prlstm.experiments.run.evaluate import validation_score
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.io import ensure_writable_dir, write_json
from prlstm.experiments.run.lock import lock_run_dir
from prlstm.experiments.run.loop import Cadence, diverged, optimizer_update, run_loop
from prlstm.experiments.run.metrics import batch_metrics
from prlstm.experiments.run.seeding import curriculum_length, derive_seed, resolve_device
from prlstm.experiments.run.trainlog import LogRow, TrainLog
from prlstm.tasks import Task

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
        # the first step whose loss or gradient norm was NaN or infinite (0: none yet)
        self.bad_step = torch.zeros((), dtype=torch.int64, device=device)

    def add(self, loss: torch.Tensor, accuracy: torch.Tensor, grad_norm: torch.Tensor,
            step: int) -> None:
        self.loss += loss.detach().double()
        self.accuracy += accuracy.double()
        norm = grad_norm.detach().double()
        self.grad_norm += norm
        torch.maximum(self.grad_norm_max, norm, out=self.grad_norm_max)
        self.count += 1
        finite = torch.isfinite(loss.detach()) & torch.isfinite(norm)
        self.bad_step = torch.where((self.bad_step == 0) & ~finite, step, self.bad_step)

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


class _Session:
    """One call of :func:`train`: the run's objects, its clocks, its log and its window; the
    :class:`~prlstm.experiments.run.loop.Steps` that :func:`run_loop` drives."""

    def __init__(self, config: RunConfig, root: Path, device: torch.device, ddp: DataParallel,
                 task: Task, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.config, self.root, self.device, self.ddp = config, root, device, ddp
        self.task, self.model, self.optimizer = task, model, optimizer
        self.net: torch.nn.Module = model
        self.start_step, self.seconds, self.val_seconds = 0, 0.0, 0.0
        self.saved = 0  # step of the last checkpoint (0: none)
        self.lr = config.lr  # the learning rate of the last update
        self.wall = 0.0  # training seconds so far (this session's and earlier ones')
        self.session_start: float | None = None
        # this process's CPU seconds spent training, the same way (not slowed by other jobs)
        self.cpu_seconds, self.cpu, self.cpu_start = 0.0, 0.0, 0.0
        self.trainlog: TrainLog | None = None
        self.window = _Window(device)

    def start(self, resume: bool) -> None:
        """Load the checkpoint (``resume``) or write ``config.json``; open the log."""
        window_state = None
        if resume:
            ckpt = load_checkpoint(self.root, self.model, self.optimizer, config=self.config,
                                   device=self.device)
            restore_rng_state(ckpt.rng)
            self.start_step = ckpt.step
            self.seconds = float(ckpt.extra.get("train_seconds", 0.0))
            self.val_seconds = float(ckpt.extra.get("val_seconds", 0.0))
            self.cpu_seconds = float(ckpt.extra.get("train_cpu_seconds", 0.0))
            window_state = ckpt.extra.get("window")
        elif self.ddp.is_writer:
            write_json(self.root / CONFIG_FILE, self.config.to_dict())
        self.saved, self.wall, self.cpu = self.start_step, self.seconds, self.cpu_seconds
        self.trainlog = (TrainLog(self.root, keep_until=self.start_step) if self.ddp.is_writer
                         else None)
        self.window = _Window(self.device, window_state)
        self.model.train()
        self.net = self.ddp.wrap(self.model)

    def update(self, step: int) -> None:
        """One optimiser update on step ``step``'s batch."""
        config, task = self.config, self.task
        length = curriculum_length(config.seed, step, config.train_length)
        batch = self.ddp.shard(task.sample_batch(config.batch_size, length,
                                                 seed=derive_seed("batch", config.seed, step)))
        batch = batch.to(self.device)
        logits = self.net(batch.inputs, task.output_length(batch.inputs.shape[1]))
        loss, accuracy = batch_metrics(logits, batch.targets, batch.mask)
        self.lr = config.lr_at(step)
        grad_norm = optimizer_update(self.optimizer, self.model.parameters(), loss, lr=self.lr,
                                     max_grad_norm=config.max_grad_norm)
        self.window.add(loss, accuracy, grad_norm, step)

    def tick(self, step: int) -> None:
        """Synchronise, update the training clock, and stop if training diverged.

        Raises:
            ValueError: a loss or gradient norm since the last check was NaN or infinite.
        """
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now, cpu_now = time.perf_counter(), time.process_time()
        if self.session_start is None:
            self.session_start, self.cpu_start = now, cpu_now
        self.wall = self.seconds + (now - self.session_start)
        self.cpu = self.cpu_seconds + (cpu_now - self.cpu_start)
        bad = int(self.window.bad_step.item())
        if bad:
            raise diverged(f"at step {bad}", "loss or gradient norm", self.config.lr, self.saved,
                           self.root)

    def log(self, step: int, validate: bool) -> dict[str, str]:
        """Validate (if asked) and append the log row of ``step``."""
        val = math.nan
        if validate:  # every rank validates its (identical) replica; rank 0 logs
            val_start, cpu_start = time.perf_counter(), time.process_time()
            val = validation_score(self.model, self.task, self.config, self.device)
            spent = time.perf_counter() - val_start
            self.val_seconds += spent
            if self.session_start is not None:
                self.session_start += spent  # validation time is not training time
                self.cpu_start += time.process_time() - cpu_start
        self.ddp.average_(self.window.loss, self.window.accuracy)
        mean_loss, mean_acc, mean_norm, max_norm = self.window.pop_means()
        if self.trainlog is not None:
            self.trainlog.append(LogRow(step, mean_loss, mean_acc, self.wall, mean_norm,
                                        max_norm, self.lr, val))
        return {"loss": f"{mean_loss:.4f}", "acc": f"{mean_acc:.3f}",
                **({"val": f"{val:.3f}"} if validate else {})}

    def checkpoint(self, step: int) -> None:
        """Save the checkpoint of ``step`` (rank 0 only)."""
        extra = {"train_seconds": self.wall, "train_cpu_seconds": self.cpu,
                 "val_seconds": self.val_seconds,
                 "window": self.window.state(), "device": str(self.device),
                 "threads": torch.get_num_threads()}
        if self.ddp.is_writer:
            save_checkpoint(self.root, self.config, step, self.model, self.optimizer, extra)
        self.saved = step

    def run(self, show: bool, on_step: Callable[[int], None] | None) -> int:
        """Train from the start step to ``config.steps``; returns the last step done."""
        config = self.config
        cadence = Cadence(config.log_every, config.ckpt_every, config.val_every, log_first=True)
        return run_loop(self, cadence, first=self.start_step + 1, last=config.steps,
                        total=config.steps, desc=f"{config.task}/{config.model}", show=show,
                        run_dir=self.root, leave=False, on_step=on_step)


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
        DirectoryLocked: another process is training in ``run_dir``.
        ValueError: training diverged (NaN or infinite loss or gradient norm); the error
            names the step, and no checkpoint of it is written.
    """
    device = resolve_device(config.device)
    ddp = DataParallel.from_env(config.batch_size, device)  # no-op unless under torchrun
    device = ddp.device(device)
    task = build_task(config)
    model = build_model(config, task, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    root = prepare_run_dir(config, run_dir, resume=resume)
    # one trainer per run directory; under torchrun only rank 0 writes, so only it locks
    with lock_run_dir(root) if ddp.is_writer else contextlib.nullcontext():
        prepare_run_dir(config, root, resume=resume)  # again: another trainer may have saved
        session = _Session(config, root, device, ddp, task, model, optimizer)
        session.start(resume)
        show = (sys.stderr.isatty() if progress is None else progress) and ddp.is_writer
        step = session.run(show, on_step)
    ddp.sync()  # no rank returns before rank 0 has written the last checkpoint
    return TrainSummary(run_dir=root, step=step, train_seconds=session.wall, device=str(device),
                        resumed_from=session.start_step)
