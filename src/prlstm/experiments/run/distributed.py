"""Data-parallel training under ``torchrun`` (DistributedDataParallel; ``gloo`` on CPU).

``prlstm train`` launched by ``torchrun --nproc-per-node N`` (or multi-node, with
``--nnodes``/``--rdzv-endpoint``) trains one run on N processes. The run is the same run as
on one process — ``config.batch_size`` is the *global* batch — so its run id, seeds and
results do not depend on N:

* every rank samples update ``s``'s whole batch from the seed derived from ``(seed, s)`` and
  keeps its own contiguous ``batch_size / N`` rows (:meth:`DataParallel.shard`);
* DDP averages the gradients, which — the loss being a mean over equal-sized shards — equals
  the gradient of the global batch up to floating-point reduction order; clipping and Adam
  then see identical gradients on every rank;
* the logged loss/accuracy are averaged over the ranks at each log row;
* only rank 0 writes (config.json, train_log.csv, checkpoints); every rank reads the checkpoint
  on ``--resume`` (so multi-node resume needs the run directory on a shared filesystem).

Dropout draws from each rank's global generator, so models with dropout (the transformer) are
a valid but not bit-comparable data-parallel run. Outside torchrun (no ``WORLD_SIZE`` or
``WORLD_SIZE=1``) every hook is a no-op. ``prlstm lm train`` reuses the same hooks.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from prlstm.tasks.base import Batch


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_writer() -> bool:
    """Whether this process writes files and prints: rank 0, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


class DataParallel:
    """The hooks :func:`prlstm.experiments.run.train.train` calls; no-ops for one process."""

    def __init__(self, world_size: int = 1, rank: int = 0, local_rank: int = 0) -> None:
        self.world_size, self.rank, self.local_rank = world_size, rank, local_rank

    @classmethod
    def from_env(cls, batch_size: int, device: torch.device) -> DataParallel:
        """The context torchrun's environment describes; joins the process group if needed.

        Raises:
            ValueError: ``batch_size`` is not a multiple of the number of processes.
        """
        world = launched_world_size()
        if world == 1:
            return cls()
        if batch_size % world:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of the number of "
                             f"torchrun processes ({world})")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            atexit.register(_leave_group)  # once per process: the group cannot be re-joined
        _EXIT["in_run"] = True  # until sync(): a crash must not wait for the other ranks
        return cls(world, dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 (or the only process) writes checkpoints and logs."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """``cuda`` becomes this process's ``cuda:LOCAL_RANK``; other devices are unchanged."""
        if self.active and device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DDP (parameters broadcast from rank 0); the model itself otherwise.

        Keep the unwrapped ``model`` for checkpoints: its parameter names have no ``module.``.
        """
        if not self.active:
            return model
        device = next(model.parameters()).device
        return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                       else None)

    def rows(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's contiguous ``B / world_size`` rows of each ``(B, ...)`` tensor."""
        if not self.active:
            return tensors
        n = tensors[0].shape[0] // self.world_size
        part = slice(self.rank * n, (self.rank + 1) * n)
        return tuple(t[part] for t in tensors)

    def shard(self, batch: Batch) -> Batch:
        """This rank's contiguous ``B / world_size`` rows of the global batch."""
        return Batch(*self.rows(batch.inputs, batch.targets, batch.mask))

    def average_(self, *tensors: torch.Tensor) -> None:
        """Replace each tensor, in place, by its mean over the ranks (a collective call)."""
        if self.active:
            for tensor in tensors:
                dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
                tensor.div_(self.world_size)

    def sync(self) -> None:
        """Wait until every rank gets here (rank 0 may still be writing its last checkpoint)."""
        if self.active and dist.is_initialized():
            dist.barrier()
            _EXIT["in_run"] = False


#: Whether this process is inside a data-parallel run (between ``from_env`` and ``sync``).
_EXIT = {"in_run": False}


def _leave_group() -> None:
    """At process exit: meet the other ranks, then leave the process group.

    A rank that exits with a live gloo group while another rank still talks to it can abort
    (``terminate called without an active exception``). The group is left only here, at
    exit, because torchrun's rendezvous store cannot host a second group in the same process
    (re-initialising after ``destroy_process_group`` fails to connect), and one process may
    train several runs (``prlstm train`` then ``prlstm train --resume``). A rank that dies
    inside a run skips the barrier, which its peers — blocked in a collective — would never
    reach.
    """
    if not dist.is_initialized():
        return
    try:
        if not _EXIT["in_run"]:  # a crash mid-run exits at once (torchrun stops the rest)
            dist.barrier()
    finally:
        dist.destroy_process_group()
