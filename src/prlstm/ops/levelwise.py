"""The level-wise backend: the scan in 2·log2(n) rounds of batched combines.

Up-sweep: ``roots[k]`` holds the root of every complete aligned block of size ``2**k``
(``roots[0]`` are the leaves); each level is one ``combine`` call over all pairs.
Down-sweep: ``P_k[j]`` is the prefix state ending at block ``j`` of level ``k``; odd ``j``
come from the level above, ``P_k[0] = roots[k][0]`` and each even ``j >= 2`` is one combine
``P_{k+1}[j/2 - 1] ⊕ roots[k][j]`` — again one batched call per level. This is exactly the
evaluation order of ``jax.lax.associative_scan`` and performs ``schedule.scan_combines(n)``
combines. :func:`extend` is the same sweep continuing a stream stack.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prlstm.ops import stacks
from prlstm.ops.api import ScanBackend
from prlstm.ops.common import Combine, State, at
from prlstm.ops.stacks import Entry, Stack
from prlstm.schedule import stack_blocks

# Every tensor here has shape (B, N, H) with the time/block axis at dim 1.


def upsweep(combine: Combine, leaves: State, levels: int | None = None) -> list[State]:
    """Block roots per level: ``roots[k]`` has shape ``(B, n >> k, H)``, k = 0..levels."""
    n = leaves[0].shape[1]
    top = n.bit_length() - 1 if levels is None else levels
    roots = [leaves]
    for k in range(1, top + 1):
        prev, m = roots[-1], n >> k
        left = tuple(s[:, 0 : 2 * m : 2] for s in prev)
        right = tuple(s[:, 1 : 2 * m : 2] for s in prev)
        roots.append(combine(left, right))
    return roots


def _interleave(even: Tensor, odd: Tensor) -> Tensor:
    """``[e0, o0, e1, o1, ...]`` along dim 1; ``even`` may be one longer than ``odd``."""
    B, _, H = even.shape
    n_odd = odd.shape[1]
    paired = torch.stack((even[:, :n_odd], odd), dim=2).reshape(B, 2 * n_odd, H)
    if even.shape[1] > n_odd:
        paired = torch.cat((paired, even[:, n_odd:]), dim=1)
    return paired


def downsweep(combine: Combine, roots: list[State], init: State | None = None,
              top: State | None = None) -> State:
    """All prefix states ``(B, n, H)`` from the up-sweep's roots.

    The in-chunk phase of chunked evaluation passes ``init`` (a state ``(B, H)``: every
    prefix that ends inside the top block is folded from it first, ``(init ⊕ root(B_1)) ⊕ …``)
    and ``top`` (``(B, 1, H)``: the known prefix at the end of the top block).
    """
    prefix = roots[-1] if top is None else top  # (B, 1, H)
    for k in range(len(roots) - 2, -1, -1):
        r = roots[k]
        n_k = r[0].shape[1]
        n_new = (n_k + 1) // 2 - 1  # even block indices 2, 4, ... below n_k
        if init is not None:  # index 0 is init ⊕ root too: one batched call for all evens
            left = tuple(torch.cat((i[:, None], p[:, :n_new]), dim=1)
                         for i, p in zip(init, prefix, strict=True))
            even = combine(left, tuple(s[:, 0 : 2 * n_new + 1 : 2] for s in r))
        elif n_new > 0:
            left = tuple(p[:, :n_new] for p in prefix)
            right = tuple(s[:, 2 : 2 * n_new + 1 : 2] for s in r)
            new = combine(left, right)
            even = tuple(torch.cat((s[:, :1], x), dim=1) for s, x in zip(r, new, strict=True))
        else:
            even = tuple(s[:, :1] for s in r)
        prefix = tuple(_interleave(e, p) for e, p in zip(even, prefix, strict=True))
    return prefix


def fold_final(combine: Combine, roots: list[State], lengths: Tensor) -> State:
    """Final states ``(B, H)`` for per-sequence ``lengths`` ``(B,)`` from the up-sweep roots:
    each row folds the roots of its own blocks, ``popcount(L) - 1`` combines per row."""
    return stacks.last(stacks.ragged_fold_roots(combine, roots, lengths))


# ---------------------------------------------------------------------- chunk continuation
def extend(combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
    """Continue a stream holding ``stack`` (``t0`` tokens) with leaves ``(B, T, H)``.

    Returns the prefix states at positions ``t0 .. t0 + T - 1`` ``(B, T, H)`` and the stack
    after ``t0 + T`` tokens: the numbers :func:`prlstm.ops.push.push` gives token by token,
    in ``2·log2(t0 + T)`` rounds of batched combines. This is the level-wise sweep over
    absolute block indices: level k holds the complete aligned blocks that end after ``t0``;
    a block straddling ``t0`` takes its old left part from the stack, and prefixes that end
    before ``t0`` are the stack entries' folds.
    """
    t0 = stacks.consumed(stack)
    old = {e.size.bit_length() - 1: e for e in stack}
    A, start = _extend_up(combine, old, t0, leaves)
    top = len(A) - 1
    P: list[State] = [()] * (top + 1)
    P[top] = A[top]
    for k in range(top - 1, -1, -1):
        up, off = P[k + 1], start[k + 1]
        q = t0 >> (k + 1)  # the prefix ending at (t0 >> k + 1 << k + 1) - 1 is an old fold
        if A[k][0].shape[1] and q:
            fold = old[k + 1 + (q & -q).bit_length() - 1].fold
            up = tuple(torch.cat((x[:, None], u), dim=1) for x, u in zip(fold, up, strict=True))
            off -= 1
        P[k] = _extend_level(combine, A[k], start[k], up, off)
    entries = []
    for bstart, size in stack_blocks(t0 + leaves[0].shape[1]):
        k = size.bit_length() - 1
        i = (bstart >> k) - start[k]
        entries.append(Entry(size, at(A[k], i), at(P[k], i)) if i >= 0 else old[k])
    return P[0], tuple(entries)


def _extend_up(combine: Combine, old: dict[int, Entry], t0: int, leaves: State
               ) -> tuple[list[State], list[int]]:
    """Up-sweep over absolute blocks: ``A[k]`` covers block indices ``start[k]`` on."""
    A, start = [leaves], [t0]
    for _ in range(1, (t0 + leaves[0].shape[1]).bit_length()):
        prev, s = A[-1], start[-1]
        if s & 1:  # the left sibling of the first block is an old block
            prev = tuple(torch.cat((r[:, None], p), dim=1)
                         for r, p in zip(old[len(A) - 1].root, prev, strict=True))
            s -= 1
        m = prev[0].shape[1] // 2
        A.append(combine(tuple(p[:, 0 : 2 * m : 2] for p in prev),
                         tuple(p[:, 1 : 2 * m : 2] for p in prev)) if m
                 else tuple(p[:, :0] for p in prev))
        start.append(s // 2)
    return A, start


def _extend_level(combine: Combine, a: State, s: int, up: State, off: int) -> State:
    """Prefix states at the ends of level-k blocks ``s ..`` (``a``), from the level above
    (``up``, whose first block has index ``off``)."""
    cnt = a[0].shape[1]
    if cnt == 0:
        return a
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
    return tuple(res)


class Levelwise(ScanBackend):
    """2·log2(T) rounds of batched combines; continuation by :func:`extend`."""

    name = "levelwise"

    def prefix(self, combine: Combine, leaves: State) -> State:
        return downsweep(combine, upsweep(combine, leaves))

    def sweep(self, combine: Combine, leaves: State) -> tuple[list[State], State]:
        roots = upsweep(combine, leaves)
        return roots, downsweep(combine, roots)

    def upsweep(self, combine: Combine, leaves: State) -> list[State] | None:
        return upsweep(combine, leaves)

    def extend(self, combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
        return extend(combine, stack, leaves)


BACKEND = Levelwise()
scan = BACKEND.scan
