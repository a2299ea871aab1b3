"""The level-wise backend: the scan in 2·log2(n) rounds of batched combines.

Up-sweep: ``roots[k]`` holds the root of every complete aligned block of size ``2**k``
(``roots[0]`` are the leaves); each level is one ``combine`` call over all pairs.
Down-sweep: ``P_k[j]`` is the prefix state ending at block ``j`` of level ``k``; odd ``j``
come from the level above, ``P_k[0] = roots[k][0]`` and each even ``j >= 2`` is one combine
``P_{k+1}[j/2 - 1] ⊕ roots[k][j]`` — again one batched call per level. This is exactly the
evaluation order of ``jax.lax.associative_scan`` and performs ``schedule.scan_combines(n)``
combines.
"""

from __future__ import annotations

import torch
from torch import Tensor

from prlstm.ops.common import Combine, State, sequential_scan

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


def scan(combine: Combine, leaves: State, schedule: str = "tree") -> State:
    """Prefix states of ``leaves`` ``(B, T, H)`` -> ``(B, T, H)`` in ``2·log2(T)`` rounds."""
    if schedule == "sequential":
        return sequential_scan(combine, leaves)
    return downsweep(combine, upsweep(combine, leaves))


def fold_final(combine: Combine, roots: list[State], lengths: Tensor) -> State:
    """Final states ``(B, H)`` for per-sequence ``lengths`` ``(B,)`` from the up-sweep roots.

    Each sequence folds the roots of its own blocks (the set bits of its length, most
    significant first): ``popcount(L) - 1`` combines per sequence.
    """
    B = lengths.shape[0]
    rows = torch.arange(B, device=lengths.device)
    acc: State | None = None
    started = torch.zeros(B, dtype=torch.bool, device=lengths.device)
    for k in range(len(roots) - 1, -1, -1):
        has = (lengths >> k) & 1 == 1
        if not bool(has.any()):
            continue
        idx = ((lengths >> k) - 1).clamp(min=0)
        block = tuple(s[rows, idx] for s in roots[k])  # (B, H)
        if acc is None:
            acc = block
        else:
            both = (has & started).nonzero().squeeze(1)
            fresh = (has & ~started)[:, None]
            acc = tuple(torch.where(fresh, b, a) for a, b in zip(acc, block, strict=True))
            if both.numel():
                merged = combine(tuple(a[both] for a in acc), tuple(b[both] for b in block))
                acc = tuple(a.index_copy(0, both, m) for a, m in zip(acc, merged, strict=True))
        started = started | has
    assert acc is not None
    return acc
