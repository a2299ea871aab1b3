"""The scan's *first blocks* in one launch each way (instead of two small copies per level).

The prefix state at position ``2**k - 1`` is the first root of up-sweep level ``k`` (level 0
being the leaves), for every ``k <= top = floor(log2 T)``. :func:`copy_firsts` writes them
into ``out``; :func:`add_firsts` adds the outputs' gradients at those positions back into the
roots' (and leaves') gradients. Buffers are contiguous ``(B, T, H)`` in the layout of
:mod:`prlstm.ops.triton.tree` (level ``k >= 1`` at position ``sum(T >> i for i < k)``).
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def firsts_kernel(
    leaf_h_ptr, leaf_c_ptr,  # level 0 (B, T, H)
    roots_h_ptr, roots_c_ptr,  # levels >= 1 (B, T, H)
    out_h_ptr, out_c_ptr,  # outputs (B, T, H)
    T, H,
    ADD: tl.constexpr,  # False: out[2**k - 1] = first_k;  True: first_k += out[2**k - 1]
    BLOCK: tl.constexpr,
):
    """Grid ``(B, top + 1)``: program ``(b, k)`` handles level ``k`` of sequence ``b``."""
    b = tl.program_id(0).to(tl.int64)
    k = tl.program_id(1)
    off = 0  # level k's position in the roots buffer
    for i in range(1, k):
        off += T >> i
    o_row = (b * T + (1 << k) - 1) * H
    f_row = (b * T + off) * H
    for n0 in range(0, H, BLOCK):
        n = n0 + tl.arange(0, BLOCK)
        mask = n < H
        if k == 0:
            f_h, f_c = leaf_h_ptr + b * T * H + n, leaf_c_ptr + b * T * H + n
        else:
            f_h, f_c = roots_h_ptr + f_row + n, roots_c_ptr + f_row + n
        o_h, o_c = out_h_ptr + o_row + n, out_c_ptr + o_row + n
        if ADD:
            tl.store(f_h, tl.load(f_h, mask=mask) + tl.load(o_h, mask=mask), mask=mask)
            tl.store(f_c, tl.load(f_c, mask=mask) + tl.load(o_c, mask=mask), mask=mask)
        else:
            tl.store(o_h, tl.load(f_h, mask=mask), mask=mask)
            tl.store(o_c, tl.load(f_c, mask=mask), mask=mask)


def _launch(leaves: tuple[Tensor, Tensor], roots: tuple[Tensor, Tensor],
            out: tuple[Tensor, Tensor], add: bool) -> None:
    B, T, H = out[0].shape
    for t in (*leaves, *roots, *out):
        if not t.is_contiguous() or t.shape != (B, T, H):
            raise ValueError(f"expected contiguous ({B}, {T}, {H}) buffers, got "
                             f"{tuple(t.shape)} strides {t.stride()}")
    if B == 0 or T == 0 or H == 0:
        return
    block = min(1024, triton.next_power_of_2(H))
    firsts_kernel[(B, T.bit_length())](*leaves, *roots, *out, T, H, ADD=add, BLOCK=block)


def copy_firsts(leaves: tuple[Tensor, Tensor], roots: tuple[Tensor, Tensor],
                out: tuple[Tensor, Tensor]) -> None:
    """``out[:, 2**k - 1] = first root of level k`` for every level, (h, c) each."""
    _launch(leaves, roots, out, add=False)


def add_firsts(g_leaves: tuple[Tensor, Tensor], g_roots: tuple[Tensor, Tensor],
               g_out: tuple[Tensor, Tensor]) -> None:
    """``g_first_k += g_out[:, 2**k - 1]`` for every level: the backward of :func:`copy_firsts`."""
    _launch(g_leaves, g_roots, g_out, add=True)
