"""The training skeleton shared by the benchmark and the character LM.

:func:`optimizer_update` is one update apart from any loop: zero the gradients, backpropagate
the loss, clip the global gradient norm, set the learning rate, step. :func:`run_loop` is the
loop around it: updates ``first..last``, a progress bar, and at the steps a :class:`Cadence`
names a clock tick, a log row (with validation where due) and a checkpoint; the first Ctrl-C
finishes the current update, checkpoints it and raises ``KeyboardInterrupt``. What an update,
a log row or a checkpoint is belongs to the caller (a :class:`Steps`):
:mod:`prlstm.experiments.run.train` for the benchmark, :mod:`prlstm.lm.train` for the LM. Both
write their checkpoints with :func:`prlstm.experiments.run.checkpoint.save_training_state`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from prlstm.experiments.run.interrupt import StopRequest


def optimizer_update(optimizer: torch.optim.Optimizer, parameters: Iterable[torch.Tensor],
                     loss: torch.Tensor, *, lr: float, max_grad_norm: float) -> torch.Tensor:
    """Backpropagate ``loss`` and take one step of ``optimizer`` at learning rate ``lr``, the
    global gradient norm of ``parameters`` clipped at ``max_grad_norm``; returns that norm
    before clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.step()
    return grad_norm


@dataclass(frozen=True)
class Due:
    """What step ``s`` of a loop does after its update."""

    log: bool
    validate: bool
    checkpoint: bool


@dataclass(frozen=True)
class Cadence:
    """Every ``log_every`` steps a log row, every ``val_every`` (0: never) a validated one,
    every ``ckpt_every`` a checkpoint; all three at the loop's last step (validation only when
    ``val_every``), a log row at step 1 when ``log_first``, a checkpoint when stopping."""

    log_every: int
    ckpt_every: int
    val_every: int = 0
    log_first: bool = False

    def at(self, step: int, last: int, stopping: bool = False) -> Due:
        validate = bool(self.val_every) and (step % self.val_every == 0 or step == last)
        log = (step % self.log_every == 0 or step == last or (self.log_first and step == 1)
               or validate)
        checkpoint = step % self.ckpt_every == 0 or step == last or stopping
        return Due(log, validate, checkpoint)


class Steps(Protocol):
    """What :func:`run_loop` drives."""

    def update(self, step: int) -> None:
        """One optimiser update, the ``step``-th (1-based)."""

    def tick(self, step: int) -> None:
        """Read the clocks (and stop a diverged run); at a session's first step and before
        every log row and checkpoint."""

    def log(self, step: int, validate: bool) -> dict[str, str]:
        """Write the log row of ``step`` (validating first if asked); returns the progress
        bar's postfix."""

    def checkpoint(self, step: int) -> None:
        """Save the checkpoint of ``step``."""


def run_loop(steps: Steps, cadence: Cadence, *, first: int, last: int, total: int, desc: str,
             show: bool, run_dir: Path, leave: bool = True,
             on_step: Callable[[int], None] | None = None) -> int:
    """Run updates ``first..last`` of a run of ``total`` steps; returns the last step done
    (``first - 1`` when there was nothing to do).

    Raises:
        KeyboardInterrupt: after Ctrl-C, once the checkpoint of the current step is saved.
    """
    bar = tqdm(total=total, initial=first - 1, disable=not show, dynamic_ncols=True, desc=desc,
               leave=leave)
    step = first - 1
    with StopRequest() as stop, bar:
        for step in range(first, last + 1):
            steps.update(step)
            bar.update(1)
            due = cadence.at(step, last, stop.requested)
            if step == first or due.log or due.checkpoint:
                steps.tick(step)
            if due.log:
                bar.set_postfix(steps.log(step, due.validate))
            if due.checkpoint:
                steps.checkpoint(step)
            if stop.requested:
                raise KeyboardInterrupt(f"interrupted after step {step}; checkpoint saved in "
                                        f"{run_dir}")
            if on_step is not None:
                on_step(step)
    return step


def diverged(when: str, what: str, lr: float, saved: int, run_dir: Path) -> ValueError:
    """The error that stops a run whose ``what`` became NaN or infinite ``when`` (e.g. "at
    step 3"), naming the last checkpoint kept (``saved``: its step, 0 for none)."""
    kept = f"the checkpoint of step {saved} is kept" if saved else "no checkpoint was written"
    return ValueError(f"training diverged {when}: the {what} became NaN or infinite "
                      f"(lr {lr:g}); {kept} in {run_dir}; lower --lr and train again")
