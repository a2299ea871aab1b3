"""One token into a stream stack: the binary-counter step (docs/model.md#streaming).

A new token becomes a size-1 block; while the top entry holds a block of the same size it is
popped and merged (``older ⊕ newer``); the output is ``fold_below ⊕ root``. Amortised ~2
combines per token. :func:`push_ragged` does the same for rows at different positions with
one batched combine per carry level.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prlstm.ops.common import Combine, State
from prlstm.ops.stacks import Entry, RaggedStack, Stack, ctz


def push(combine: Combine, stack: Stack, leaf: State,
         record: list[list[State]] | None = None) -> tuple[State, Stack]:
    """Feed one leaf state ``(B, H)``; returns ``(output state, new stack)`` (pure).

    ``record``, when given, receives every block root the push completes: ``record[k]``
    collects the roots of level ``k`` in order (the leaf itself is level 0).
    """
    entries, root, size, level = list(stack), leaf, 1, 0
    if record is not None:
        record[0].append(leaf)
    while entries and entries[-1].size == size:
        root = combine(entries.pop().root, root)
        size, level = size * 2, level + 1
        if record is not None:
            if len(record) == level:
                record.append([])
            record[level].append(root)
    out = combine(entries[-1].fold, root) if entries else root
    entries.append(Entry(size, root, out))
    return out, tuple(entries)


def _grow(stack: RaggedStack, levels: int) -> RaggedStack:
    """``stack`` with at least ``levels`` slots (new slots zero)."""
    have = stack.roots[0].shape[1]
    if have >= levels:
        return stack

    def pad(s: Tensor) -> Tensor:
        return torch.cat((s, s.new_zeros(s.shape[0], levels - have, s.shape[2])), dim=1)

    return RaggedStack(tuple(map(pad, stack.roots)), tuple(map(pad, stack.folds)),
                       stack.positions)


def _merge_rows(combine: Combine, rows: Tensor, left: State, right: State) -> State:
    """``right`` with rows ``rows`` replaced by ``left[rows] ⊕ right[rows]`` (one call)."""
    if rows.numel() == right[0].shape[0]:
        return combine(left, right)
    merged = combine(tuple(s[rows] for s in left), tuple(s[rows] for s in right))
    return tuple(s.index_copy(0, rows, m) for s, m in zip(right, merged, strict=True))


def push_ragged(combine: Combine, stack: RaggedStack, leaf: State) -> tuple[State, RaggedStack]:
    """Feed one leaf ``(B, H)`` to rows that have consumed ``stack.positions`` tokens each.

    Row b's numbers are exactly :func:`push` on its own stack; the whole batch takes one
    combine call per carry level (at most ``log2(max n) + 1``) plus one for the output.
    """
    n = stack.positions
    m = n + 1
    stack = _grow(stack, int(m.max()).bit_length())
    rows_all = torch.arange(n.shape[0], device=n.device)
    root, level = leaf, torch.zeros_like(n)
    carry = (n & 1) == 1
    k = 0
    while bool(carry.any()):
        rows = carry.nonzero().squeeze(1)
        root = _merge_rows(combine, rows, tuple(r[:, k] for r in stack.roots), root)
        level = level + carry.long()
        k += 1
        carry = carry & (((n >> k) & 1) == 1)
    above = m >> (level + 1)  # bits of m above the new block's level
    has_below = above > 0
    below = torch.where(has_below, level + 1 + ctz(above.clamp(min=1)), level)
    out = root
    if bool(has_below.any()):
        rows = has_below.nonzero().squeeze(1)
        out = _merge_rows(combine, rows, tuple(f[rows_all, below] for f in stack.folds), root)
    roots = tuple(r.index_put((rows_all, level), x)
                  for r, x in zip(stack.roots, root, strict=True))
    folds = tuple(f.index_put((rows_all, level), x)
                  for f, x in zip(stack.folds, out, strict=True))
    return out, RaggedStack(roots, folds, m)
