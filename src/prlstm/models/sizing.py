"""Parameter counts, and the width that gives a model a target parameter count."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def count(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_width(params_at: Callable[[int], int], target: int, step: int = 1,
                limit: int = 1 << 16, smallest: int = 1) -> int:
    """The width ``w`` (a multiple of ``step``, at least ``smallest`` steps) whose
    ``params_at(w)`` is closest to ``target``; ties go to the smaller width. ``params_at``
    must not decrease with ``w``.

    Raises:
        ValueError: ``target`` is not a positive int, or needs a width above ``limit``.
    """
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise ValueError(f"target must be a positive int (a parameter count), got {target!r}")
    lo = hi = smallest  # in units of step
    while params_at(hi * step) < target:
        lo, hi = hi, hi * 2
        if hi * step > limit:
            raise ValueError(f"target={target} parameters needs a width above {limit}")
    while hi - lo > 1:  # params_at(lo*step) < target <= params_at(hi*step), or lo == hi
        mid = (lo + hi) // 2
        if params_at(mid * step) < target:
            lo = mid
        else:
            hi = mid
    below, above = params_at(lo * step), params_at(hi * step)
    return lo * step if target - below <= above - target else hi * step
