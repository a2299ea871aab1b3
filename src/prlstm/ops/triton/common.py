"""Helpers shared by the Triton kernels: strided row views and small device functions.

A *view* addresses a ``(B, m, H)`` tensor whose last stride is 1 by its base pointer and two
strides: row ``r`` of the flattened ``B * m`` rows sits at ``(r // m) * sb + (r % m) * sj``.
Every operand of a round (left/right children, outputs, gradients) is such a view, so the
strided slices of the scan (``s[:, 0::2]``, every ``2**k``-th prefix state) reach the kernels
without copies. A contiguous ``(B * m, W)`` scratch buffer is the view ``(W * m, W)``.
"""

from __future__ import annotations

from typing import NamedTuple

import triton
import triton.language as tl
from torch import Tensor


class View(NamedTuple):
    """A ``(B, m, H)`` operand: ``t`` with batch stride ``sb`` and row stride ``sj``."""

    t: Tensor
    sb: int
    sj: int

    def rows(self, H: int) -> Tensor:
        """The ``(B * m, H)`` matrix of this view (a copy when the strides demand it)."""
        return self.t.reshape(-1, H)


def view3(t: Tensor) -> View:
    """The view of a 3-D tensor ``(B, m, H)`` with unit last stride."""
    if t.dim() != 3 or (t.stride(2) != 1 and t.shape[2] > 1):
        raise ValueError(f"expected a (B, m, H) tensor with unit last stride, got "
                         f"shape {tuple(t.shape)} strides {t.stride()}")
    return View(t, t.stride(0), t.stride(1))


def flat(t: Tensor, m: int) -> View:
    """The view of a contiguous ``(B * m, W)`` scratch buffer as ``B`` blocks of ``m`` rows."""
    width = t.shape[1]
    return View(t, m * width, width)


@triton.jit
def sigmoid(x):
    """Logistic sigmoid in fp32."""
    return tl.sigmoid(x)


@triton.jit
def tanh(x):
    """``tanh(x) = 2σ(2x) - 1``, portable across Triton versions and the interpreter."""
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def row_offsets(r, m, sb, sj):
    """Element offsets ``(BM,)`` (int64) of rows ``r`` in a view with strides ``sb, sj``."""
    b = r // m  # int32 division (rows < 2**31); 64-bit division is a slow subroutine
    j = r - b * m
    return b.to(tl.int64) * sb + j.to(tl.int64) * sj


@triton.jit
def mma(a, b, acc, DOT_F32: tl.constexpr, PRECISION: tl.constexpr):
    """``acc + a @ b`` with fp32 accumulation.

    ``DOT_F32`` upcasts the operands first: the Triton interpreter's bf16 ``tl.dot`` is wrong,
    and bf16 products are exact in fp32, so the result is the same up to summation order.
    """
    if DOT_F32:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PRECISION)
