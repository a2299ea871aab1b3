"""Stream stacks: the state a scan hands over (docs/model.md#streaming).

A *uniform* :data:`Stack` serves rows that all consumed the same number of tokens: entries
``(size, root, fold)`` bottom first, one per set bit of that number — an aligned block's root
and the fold of every block up to and including it (= the output at the block's last
position). A :class:`RaggedStack` serves rows at different positions: slot ``k`` of row ``b``
holds the entry of the block of size ``2**k`` when bit ``k`` of its position is set (the
slots of unset bits hold stale values and are never read). The ``sequential`` schedule keeps
a single entry (the running fold) of size ``t``.

Every backend builds these from its own evaluation: from the up-sweep's block roots
(``roots[k]`` ``(B, n >> k, H)``, the layout of :func:`prlstm.ops.levelwise.upsweep`) and
the prefix states, or by folding the roots when only the final states are wanted.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from prlstm.ops.common import Combine, State
from prlstm.schedule import stack_blocks


class Entry(NamedTuple):
    """One stack entry; ``root`` and ``fold`` are states of shape ``(B, H)``."""

    size: int
    root: State
    fold: State


Stack = tuple[Entry, ...]


class RaggedStack(NamedTuple):
    """Per-level slots ``(B, K, H)`` for rows at ``positions`` ``(B,)`` (int64) each."""

    roots: State
    folds: State
    positions: Tensor


Carry = Stack | RaggedStack


def consumed(stack: Stack) -> int:
    """Tokens a uniform stack has consumed."""
    return sum(e.size for e in stack)


def ctz(x: Tensor) -> Tensor:
    """Count of trailing zero bits of positive int64 values (exact below 2**52)."""
    return torch.log2((x & -x).double()).round().long()


def last(stack: Carry) -> State:
    """The newest prefix state per row ``(B, H)``: the fold of the smallest block."""
    if isinstance(stack, RaggedStack):
        rows = torch.arange(stack.positions.shape[0], device=stack.positions.device)
        slot = ctz(stack.positions) if stack.folds[0].shape[1] > 1 else 0
        return tuple(f[rows, slot] for f in stack.folds)
    return stack[-1].fold


def from_sweep(roots: list[State], out: State, n: int) -> Stack:
    """The uniform stack after ``n`` tokens, from block roots and prefix states."""
    entries = []
    for start, size in stack_blocks(n):
        level = roots[size.bit_length() - 1]
        root = tuple(r[:, start // size] for r in level)
        entries.append(Entry(size, root, tuple(s[:, start + size - 1] for s in out)))
    return tuple(entries)


def ragged_from_sweep(roots: list[State], out: State, lengths: Tensor) -> RaggedStack:
    """The ragged stack after row b consumed ``lengths[b]`` tokens, from a parallel pass.

    Block k of row b is ``[(L >> k << k) - 2**k, L >> k << k)``; one slot per level of
    ``roots`` (no host read of the lengths).
    """
    rows = torch.arange(lengths.shape[0], device=lengths.device)
    zero = torch.zeros((), dtype=out[0].dtype, device=out[0].device)
    slots_r: list[State] = []
    slots_f: list[State] = []
    for k, level in enumerate(roots):
        has = (((lengths >> k) & 1) == 1)[:, None]  # (B, 1)
        idx = ((lengths >> k) - 1).clamp(min=0)
        end = ((lengths >> k) << k).clamp(min=1) - 1
        slots_r.append(tuple(torch.where(has, r[rows, idx], zero) for r in level))
        slots_f.append(tuple(torch.where(has, s[rows, end], zero) for s in out))
    return RaggedStack(_stack_slots(slots_r), _stack_slots(slots_f), lengths)


def _stack_slots(slots: list[State]) -> State:
    """Per-level ``(B, H)`` states -> ``(B, K, H)``."""
    return tuple(torch.stack(s, dim=1) for s in zip(*slots, strict=True))


def fold_roots(combine: Combine, roots: list[State], n: int) -> Stack:
    """The uniform stack after ``n`` tokens from the block roots alone: the entries' folds
    are the running fold of the roots, ``popcount(n) - 1`` combines."""
    entries: list[Entry] = []
    for start, size in stack_blocks(n):
        root = tuple(r[:, start // size] for r in roots[size.bit_length() - 1])
        fold = combine(entries[-1].fold, root) if entries else root
        entries.append(Entry(size, root, fold))
    return tuple(entries)


def ragged_fold_roots(combine: Combine, roots: list[State], lengths: Tensor) -> RaggedStack:
    """:func:`fold_roots` for per-row ``lengths`` ``(B,)``: each row folds the roots of its
    own blocks, most significant first, one batched combine per level for the rows that
    need it (``popcount(L) - 1`` combines per row)."""
    B = lengths.shape[0]
    rows = torch.arange(B, device=lengths.device)
    zero = torch.zeros((), dtype=roots[0][0].dtype, device=lengths.device)
    started = torch.zeros(B, dtype=torch.bool, device=lengths.device)
    acc: State | None = None
    slots_r: list[State] = [()] * len(roots)
    slots_f: list[State] = [()] * len(roots)
    for k in range(len(roots) - 1, -1, -1):
        has = (lengths >> k) & 1 == 1
        block = tuple(s[rows, ((lengths >> k) - 1).clamp(min=0)] for s in roots[k])  # (B, H)
        if acc is None:
            acc = block
        else:
            acc = tuple(torch.where((has & ~started)[:, None], b, a)
                        for a, b in zip(acc, block, strict=True))
            both = (has & started).nonzero().squeeze(1)
            if both.numel():
                merged = combine(tuple(a[both] for a in acc), tuple(b[both] for b in block))
                acc = tuple(a.index_copy(0, both, m) for a, m in zip(acc, merged, strict=True))
        started = started | has
        slots_r[k] = tuple(torch.where(has[:, None], b, zero) for b in block)
        slots_f[k] = tuple(torch.where(has[:, None], a, zero) for a in acc)
    return RaggedStack(_stack_slots(slots_r), _stack_slots(slots_f), lengths)


def sequential_stack(out: State, lengths: Tensor | None) -> Carry:
    """The ``sequential`` schedule's stack after a pass: each row's running fold."""
    if lengths is None:
        fold = tuple(s[:, -1] for s in out)
        return (Entry(out[0].shape[1], fold, fold),)
    rows = torch.arange(lengths.shape[0], device=lengths.device)
    slot = tuple(s[rows, lengths - 1][:, None] for s in out)
    return RaggedStack(slot, slot, lengths)


def sequential_init(stack: Carry) -> State | None:
    """The running fold a ``sequential`` stream continues from (``None`` when empty)."""
    if isinstance(stack, RaggedStack):
        return tuple(f[:, 0] for f in stack.folds)
    return stack[0].fold if stack else None


def prefix_stack(state: State, n: int) -> Stack:
    """A prefix state ``(B, H)`` as the stack of one block of size ``2**K > n``.

    Continuing it with ``n`` tokens gives ``state ⊕ S_t`` at every position ``t < n``:
    the new tokens never fill a block as large as the held one, so it is never re-merged.
    """
    return (Entry(1 << n.bit_length(), state, state),)
