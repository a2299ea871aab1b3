"""The streaming backend: the binary-counter form of the schedule (docs/model.md#streaming).

The stream keeps a stack of entries ``(size, root, fold)``: an aligned block's root and the
fold of every block up to and including it (= the output at the block's last position).
A new token becomes a size-1 block; while the top entry holds a block of the same size it is
popped and merged (``older ⊕ newer``); the output is ``fold_below ⊕ root``. Amortised ~2
combines per token and ``popcount(t + 1)`` entries of state.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from prlstm.ops.common import Combine, State, at
from prlstm.schedule import stack_blocks


class Entry(NamedTuple):
    """One stack entry; ``root`` and ``fold`` are states of shape ``(B, H)``."""

    size: int
    root: State
    fold: State


Stack = tuple[Entry, ...]


def push(combine: Combine, stack: Stack, leaf: State) -> tuple[State, Stack]:
    """Feed one leaf state ``(B, H)``; returns ``(output state, new stack)`` (pure)."""
    entries, root, size = list(stack), leaf, 1
    while entries and entries[-1].size == size:
        root = combine(entries.pop().root, root)
        size *= 2
    out = combine(entries[-1].fold, root) if entries else root
    entries.append(Entry(size, root, out))
    return out, tuple(entries)


def push_sequential(combine: Combine, stack: Stack, leaf: State) -> tuple[State, Stack]:
    """The ``sequential`` schedule: the stack holds the single running fold."""
    out = combine(stack[0].fold, leaf) if stack else leaf
    return out, (Entry(stack[0].size + 1 if stack else 1, out, out),)


def scan(combine: Combine, leaves: State, schedule: str = "tree") -> State:
    """Prefix states ``(B, T, H)`` by streaming the leaves one at a time."""
    step = push_sequential if schedule == "sequential" else push
    stack: Stack = ()
    outs = []
    for t in range(leaves[0].shape[1]):
        out, stack = step(combine, stack, at(leaves, t))
        outs.append(out)
    return tuple(torch.stack([o[i] for o in outs], dim=1) for i in range(len(leaves)))


# ------------------------------------------------------------------------- ragged streams
# A ragged stack serves rows that sit at different positions n_b. It is indexed by level:
# slot k of row b holds the entry of the block of size 2**k when bit k of n_b is set (slots of
# unset bits hold stale values and are never read). Tensors are (B, K, H), K = levels held.


class RaggedStack(NamedTuple):
    """Per-level stack slots for rows at different positions: ``(B, K, H)`` each."""

    roots: State
    folds: State


def _grow(stack: RaggedStack, levels: int) -> RaggedStack:
    """``stack`` with at least ``levels`` slots (new slots zero)."""
    have = stack.roots[0].shape[1]
    if have >= levels:
        return stack

    def pad(s: Tensor) -> Tensor:
        return torch.cat((s, s.new_zeros(s.shape[0], levels - have, s.shape[2])), dim=1)

    return RaggedStack(tuple(map(pad, stack.roots)), tuple(map(pad, stack.folds)))


def _merge_rows(combine: Combine, rows: Tensor, left: State, right: State) -> State:
    """``right`` with rows ``rows`` replaced by ``left[rows] ⊕ right[rows]`` (one call)."""
    if rows.numel() == right[0].shape[0]:
        return combine(left, right)
    merged = combine(tuple(s[rows] for s in left), tuple(s[rows] for s in right))
    return tuple(s.index_copy(0, rows, m) for s, m in zip(right, merged, strict=True))


def _ctz(x: Tensor) -> Tensor:
    """Count of trailing zero bits of positive int64 values (exact below 2**52)."""
    return torch.log2((x & -x).double()).round().long()


def push_ragged(combine: Combine, stack: RaggedStack, n: Tensor, leaf: State
                ) -> tuple[State, RaggedStack]:
    """Feed one leaf ``(B, H)`` to rows that have consumed ``n`` ``(B,)`` tokens each.

    Row b's numbers are exactly :func:`push` on its own stack; the whole batch takes one
    combine call per carry level (at most ``log2(max n) + 1``) plus one for the output.
    """
    B = n.shape[0]
    m = n + 1
    stack = _grow(stack, int(m.max()).bit_length())
    rows_all = torch.arange(B, device=n.device)
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
    below = torch.where(has_below, level + 1 + _ctz(above.clamp(min=1)), level)
    out = root
    if bool(has_below.any()):
        rows = has_below.nonzero().squeeze(1)
        out = _merge_rows(combine, rows, tuple(f[rows_all, below] for f in stack.folds), root)
    roots = tuple(r.index_put((rows_all, level), x) for r, x in zip(stack.roots, root,
                                                                      strict=True))
    folds = tuple(f.index_put((rows_all, level), x) for f, x in zip(stack.folds, out,
                                                                      strict=True))
    return out, RaggedStack(roots, folds)


def push_ragged_sequential(combine: Combine, stack: RaggedStack, n: Tensor, leaf: State
                           ) -> tuple[State, RaggedStack]:
    """The ``sequential`` schedule for rows at positions ``n``: slot 0 is the running fold."""
    stack = _grow(stack, 1)
    out = leaf
    started = n > 0
    if bool(started.any()):
        rows = started.nonzero().squeeze(1)
        out = _merge_rows(combine, rows, tuple(f[:, 0] for f in stack.folds), leaf)
    slot = tuple(o[:, None] for o in out)
    return out, RaggedStack(slot, slot)


def ragged_from_sweep(roots: list[State], out: State, lengths: Tensor) -> RaggedStack:
    """The ragged stack after row b consumed ``lengths[b]`` tokens, from a parallel pass.

    ``roots`` are the up-sweep's block roots per level, ``out`` the prefix states
    ``(B, T, H)``; block k of row b is ``[(L >> k << k) - 2**k, L >> k << k)``.
    """
    B = lengths.shape[0]
    rows = torch.arange(B, device=lengths.device)
    slots_r: list[State] = []
    slots_f: list[State] = []
    for k in range(int(lengths.max()).bit_length()):
        has = (((lengths >> k) & 1) == 1)[:, None]
        idx = ((lengths >> k) - 1).clamp(min=0)
        end = ((lengths >> k) << k).clamp(min=1) - 1
        zero = torch.zeros((), dtype=out[0].dtype, device=out[0].device)
        slots_r.append(tuple(torch.where(has, r[rows, idx], zero) for r in roots[k]))
        slots_f.append(tuple(torch.where(has, s[rows, end], zero) for s in out))
    return RaggedStack(tuple(torch.stack(s, dim=1) for s in zip(*slots_r, strict=True)),
                       tuple(torch.stack(s, dim=1) for s in zip(*slots_f, strict=True)))


def ragged_from_folds(out: State, lengths: Tensor) -> RaggedStack:
    """The ``sequential`` schedule's ragged stack: each row's fold after its last token."""
    rows = torch.arange(lengths.shape[0], device=lengths.device)
    slot = tuple(s[rows, lengths - 1][:, None] for s in out)
    return RaggedStack(slot, slot)


# ---------------------------------------------------------------------- chunk continuation
def extend(combine: Combine, stack: Stack, t0: int, leaves: State) -> tuple[State, Stack]:
    """Continue a stream at position ``t0`` (holding ``stack``) with leaves ``(B, T, H)``.

    Returns the prefix states at positions ``t0 .. t0 + T - 1`` ``(B, T, H)`` and the stack
    after ``t0 + T`` tokens: the numbers :func:`push` gives token by token, in
    ``2·log2(t0 + T)`` rounds of batched combines. This is the level-wise sweep over absolute
    block indices: level k holds the complete aligned blocks that end after ``t0``; a block
    straddling ``t0`` takes its old left part from the stack, and prefixes that end before
    ``t0`` are the stack entries' folds.
    """
    T = leaves[0].shape[1]
    n = t0 + T
    top = n.bit_length() - 1
    old = {e.size.bit_length() - 1: e for e in stack}

    def old_fold(k: int) -> State | None:  # the prefix ending at (t0 >> k << k) - 1
        q = t0 >> k
        return old[k + (q & -q).bit_length() - 1].fold if q else None

    # up-sweep: A[k] covers absolute block indices start[k] .. start[k] + len - 1
    A, start = [leaves], [t0]
    for k in range(1, top + 1):
        prev, s = A[-1], start[-1]
        if s & 1:  # the left sibling of the first block is an old block (bit k-1 of t0)
            prev = tuple(torch.cat((r[:, None], p), dim=1)
                         for r, p in zip(old[k - 1].root, prev, strict=True))
            s -= 1
        m = prev[0].shape[1] // 2
        if m:
            A.append(combine(tuple(p[:, 0 : 2 * m : 2] for p in prev),
                             tuple(p[:, 1 : 2 * m : 2] for p in prev)))
        else:
            A.append(tuple(p[:, :0] for p in prev))
        start.append(s // 2)
    # down-sweep: P[k][i] is the prefix state at the end of block start[k] + i of level k
    P: list[State] = [()] * (top + 1)
    P[top] = A[top]
    for k in range(top - 1, -1, -1):
        a, s = A[k], start[k]
        cnt = a[0].shape[1]
        if cnt == 0:
            P[k] = a
            continue
        up, off, e = P[k + 1], start[k + 1], old_fold(k + 1)
        if e is not None:
            up = tuple(torch.cat((x[:, None], u), dim=1) for x, u in zip(e, up, strict=True))
            off -= 1
        fe = s & 1  # offset of the first even index in a
        n_even, n_odd = (cnt - fe + 1) // 2, (cnt - (1 - fe) + 1) // 2
        j_odd = s + 1 - fe  # first odd index: its prefix is up[(j - 1) // 2]
        odd = tuple(u[:, (j_odd - 1) // 2 - off :][:, :n_odd] for u in up)
        j_even = s + fe  # first even index
        first_root = j_even == 0  # block 0's prefix is its root
        lo = j_even // 2 - 1 + int(first_root) - off
        n_comb = n_even - int(first_root)
        parts = [tuple(x[:, fe : fe + 1] for x in a)] if first_root else []
        if n_comb:
            right = tuple(x[:, fe + 2 * int(first_root) :: 2][:, :n_comb] for x in a)
            parts.append(combine(tuple(u[:, lo : lo + n_comb] for u in up), right))
        if not parts:
            parts = [tuple(x[:, :0] for x in a)]
        even = tuple(torch.cat(p, dim=1) for p in zip(*parts, strict=True))
        res = []
        for ev, od in zip(even, odd, strict=True):
            r = ev.new_empty(ev.shape[0], cnt, ev.shape[2])
            r[:, fe::2] = ev
            r[:, 1 - fe :: 2] = od
            res.append(r)
        P[k] = tuple(res)
    entries = []
    for bstart, size in stack_blocks(n):
        k = size.bit_length() - 1
        j = bstart >> k
        if j >= start[k]:
            i = j - start[k]
            entries.append(Entry(size, at(A[k], i), at(P[k], i)))
        else:
            entries.append(old[k])
    return P[0], tuple(entries)

