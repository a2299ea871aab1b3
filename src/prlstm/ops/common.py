"""Small helpers shared by the scan backends: states are tuples of tensors."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

State = tuple[Tensor, ...]
Combine = Callable[[State, State], State]


def at(state: State, t: int) -> State:
    """The state at time index ``t`` of ``(B, T, H)`` tensors -> ``(B, H)``."""
    return tuple(s[:, t] for s in state)


def sequential_scan(combine: Combine, leaves: State) -> State:
    """The ``sequential`` ablation schedule: ``S_t = S_{t-1} ⊕ x_t``.

    Defined in docs/model.md#the-sequential-schedule.
    """
    import torch

    n = leaves[0].shape[1]
    acc = at(leaves, 0)
    outs = [acc]
    for t in range(1, n):
        acc = combine(acc, at(leaves, t))
        outs.append(acc)
    return tuple(torch.stack([o[i] for o in outs], dim=1) for i in range(len(leaves)))
