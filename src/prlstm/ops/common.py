"""Small helpers shared by the scan backends: states are tuples of tensors."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

State = tuple[Tensor, ...]
Combine = Callable[[State, State], State]


def at(state: State, t: int) -> State:
    """The state at time index ``t`` of ``(B, T, H)`` tensors -> ``(B, H)``."""
    return tuple(s[:, t] for s in state)


def stack_time(states: list[State]) -> State:
    """Per-position states ``(B, H)`` -> one state ``(B, T, H)``."""
    return tuple(torch.stack(parts, dim=1) for parts in zip(*states, strict=True))


def sequential_scan(combine: Combine, leaves: State, init: State | None = None) -> State:
    """The ``sequential`` ablation schedule: ``S_t = S_{t-1} ⊕ x_t`` (``S_{-1} = init``).

    Defined in docs/model.md#the-sequential-schedule; without ``init`` ``S_0 = x_0``.
    """
    acc = init
    outs = []
    for t in range(leaves[0].shape[1]):
        acc = at(leaves, t) if acc is None else combine(acc, at(leaves, t))
        outs.append(acc)
    return stack_time(outs)
