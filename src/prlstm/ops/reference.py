"""The reference backend: docs/model.md#the-block-schedule written down literally.

``S_t`` is the left fold of the block roots named by the set bits of ``t + 1``; a block root
is the balanced tree over its aligned block. Roots are memoised so each one is computed once.
Slow (a Python loop over positions) and obviously correct: every other backend is tested
against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from prlstm.ops.common import Combine, State, at, sequential_scan
from prlstm.schedule import prefix_blocks


def prefix_states(combine: Callable[[Any, Any], Any], leaves: Sequence[Any]) -> list[Any]:
    """All prefix states of a list of leaf values, for any ``combine`` (tensors, strings...)."""
    memo: dict[tuple[int, int], Any] = {}

    def root(start: int, size: int) -> Any:
        if size == 1:
            return leaves[start]
        if (start, size) not in memo:
            half = size // 2
            memo[start, size] = combine(root(start, half), root(start + half, half))
        return memo[start, size]

    out = []
    for t in range(len(leaves)):
        blocks = prefix_blocks(t)
        acc = root(*blocks[0])
        for block in blocks[1:]:
            acc = combine(acc, root(*block))
        out.append(acc)
    return out


def scan(combine: Combine, leaves: State, schedule: str = "tree") -> State:
    """Prefix states of ``leaves`` ``(B, T, H)`` -> ``(B, T, H)`` by the block-fold definition."""
    if schedule == "sequential":
        return sequential_scan(combine, leaves)
    n = leaves[0].shape[1]
    states = prefix_states(combine, [at(leaves, t) for t in range(n)])
    return tuple(torch.stack([s[i] for s in states], dim=1) for i in range(len(leaves)))
