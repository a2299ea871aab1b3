"""Build the task and the (seeded) model a :class:`RunConfig` describes."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prlstm import models, tasks
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.seeding import derive_seed


def build_task(config: RunConfig) -> tasks.Task:
    """``tasks.get(config.task, **config.task_options)``; bad names/options raise ValueError."""
    try:
        return tasks.get(config.task, **config.task_options)
    except TypeError as err:
        raise ValueError(f"task {config.task!r}: {err}") from err


def build_model(config: RunConfig, task: tasks.Task,
                device: torch.device | str = "cpu") -> nn.Module:
    """The model with its initial weights drawn from a seed derived from ``config.seed``.

    The global torch RNG is re-seeded afterwards from another derived seed; it then drives
    dropout during training (and is saved in checkpoints).
    """
    torch.manual_seed(derive_seed("init", config.seed))
    try:
        model = models.build(config.model, task.input_size, task.output_size, **config.hparams)
    except TypeError as err:
        raise ValueError(f"model {config.model!r}: {err}") from err
    torch.manual_seed(derive_seed("dropout", config.seed))
    return model.to(device)


def model_config(model: nn.Module) -> dict[str, Any]:
    """The model's JSON-able config (``model.config``), or ``{}`` if it has none."""
    config = getattr(model, "config", None)
    return dict(config) if isinstance(config, dict) else {}


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
