"""The reference backend: docs/model.md#the-block-schedule written down literally.

``S_t`` is the left fold of the block roots named by the set bits of ``t + 1``; a block root
is the balanced tree over its aligned block. Roots are memoised so each one is computed once.
A continued stream seeds the memo with its stack's roots (the blocks before ``t0``), so the
same definition gives the states at absolute positions. Slow (a Python loop over positions)
and obviously correct: every other backend is tested against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prlstm.ops.api import ScanBackend
from prlstm.ops.common import Combine, State, at, stack_time
from prlstm.ops.stacks import Entry, Stack, consumed
from prlstm.schedule import prefix_blocks, stack_blocks


class _Roots:
    """Memoised block roots over leaves that start at absolute position ``t0``; the blocks
    before ``t0`` are ``known`` (from a stream's stack)."""

    def __init__(self, combine: Callable[[Any, Any], Any], leaves: Sequence[Any], t0: int = 0,
                 known: dict[tuple[int, int], Any] | None = None) -> None:
        self.combine, self.leaves, self.t0 = combine, leaves, t0
        self.memo: dict[tuple[int, int], Any] = dict(known or {})

    def __call__(self, start: int, size: int) -> Any:
        if (start, size) in self.memo:
            return self.memo[start, size]
        if size == 1:
            if start < self.t0:
                raise ValueError(f"the block ({start}, 1) lies before t0={self.t0} but is not "
                                 f"in the stack")
            return self.leaves[start - self.t0]
        half = size // 2
        self.memo[start, size] = self.combine(self(start, half), self(start + half, half))
        return self.memo[start, size]

    def prefix(self, t: int) -> Any:
        """The state at absolute position ``t``: the left fold of its blocks' roots."""
        blocks = prefix_blocks(t)
        acc = self(*blocks[0])
        for block in blocks[1:]:
            acc = self.combine(acc, self(*block))
        return acc


def prefix_states(combine: Callable[[Any, Any], Any], leaves: Sequence[Any]) -> list[Any]:
    """All prefix states of a list of leaf values, for any ``combine`` (tensors, strings...)."""
    roots = _Roots(combine, leaves)
    return [roots.prefix(t) for t in range(len(leaves))]


def _positions(leaves: State) -> list[State]:
    """``(B, T, H)`` -> ``T`` states ``(B, H)``."""
    return [at(leaves, t) for t in range(leaves[0].shape[1])]


class Reference(ScanBackend):
    """The block-fold definition, one position at a time."""

    name = "reference"

    def sweep(self, combine: Combine, leaves: State) -> tuple[list[State], State]:
        n = leaves[0].shape[1]
        roots = _Roots(combine, _positions(leaves))
        out = stack_time([roots.prefix(t) for t in range(n)])
        return self._levels(roots, n), out

    def prefix(self, combine: Combine, leaves: State) -> State:
        return stack_time(prefix_states(combine, _positions(leaves)))

    def upsweep(self, combine: Combine, leaves: State) -> list[State] | None:
        return self._levels(_Roots(combine, _positions(leaves)), leaves[0].shape[1])

    @staticmethod
    def _levels(roots: _Roots, n: int) -> list[State]:
        """Every complete aligned block's root, per level ``(B, n >> k, H)``."""
        return [stack_time([roots(j << k, 1 << k) for j in range(n >> k)])
                for k in range(n.bit_length())]

    def extend(self, combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
        t0, T = consumed(stack), leaves[0].shape[1]
        known, start = {}, 0
        for e in stack:
            known[start, e.size] = e.root
            start += e.size
        roots = _Roots(combine, _positions(leaves), t0, known)
        outs = [roots.prefix(t0 + t) for t in range(T)]
        entries = []
        for start, size in stack_blocks(t0 + T):
            end = start + size - 1
            old = next((e for e in stack if e.size == size), None) if end < t0 else None
            fold = old.fold if old is not None else outs[end - t0]
            entries.append(Entry(size, roots(start, size), fold))
        return stack_time(outs), tuple(entries)


BACKEND = Reference()
scan = BACKEND.scan
