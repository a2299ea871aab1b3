"""Independent oracles for the core tests (not used by the library)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def associative_scan(f: Callable[[Any, Any], Any], xs: list[Any]) -> list[Any]:
    """The odd/even recursion of ``jax.lax.associative_scan`` written from its description:
    combine adjacent pairs, recurse on the half-length sequence for the odd positions, then
    form each even position ``t >= 2`` as ``S_{t-1} ⊕ x_t``."""
    n = len(xs)
    if n < 2:
        return list(xs)
    odd = associative_scan(f, [f(xs[2 * i], xs[2 * i + 1]) for i in range(n // 2)])
    out: list[Any] = [None] * n
    out[0] = xs[0]
    for i, v in enumerate(odd):
        out[2 * i + 1] = v
    for t in range(2, n, 2):
        out[t] = f(odd[t // 2 - 1], xs[t])
    return out
