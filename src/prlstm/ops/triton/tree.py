"""The whole tree scan as rounds of fused combines, written into preallocated buffers.

Same evaluation order as :mod:`prlstm.ops.levelwise` (docs/model.md#work-and-depth), but every
round reads and writes strided views instead of slicing, concatenating and interleaving:

* up-sweep: level ``k`` roots (``T >> k`` blocks) live in one ``roots`` buffer at offset
  ``off[k]``; ``roots_k = roots_{k-1}[0::2] ⊕ roots_{k-1}[1::2]`` (level 0 is the leaves);
* down-sweep: the prefix state of every position goes straight into ``out``: position
  ``2**k - 1`` is ``roots_k[0]``, and level ``k`` writes positions ``(j + 1)·2**k - 1`` for
  even ``j >= 2`` as ``out[j·2**k - 1] ⊕ roots_k[j]`` — two strided views of ``out``.

The backward replays the rounds in reverse (down-sweep from level 0 up, then the up-sweep
from the top), each round recomputing its own activations (:func:`rounds.round_bwd`), so
only the leaves, the roots and the outputs are kept: memory linear in T.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from prlstm.ops.triton.common import View, view3
from prlstm.ops.triton.firsts import add_firsts, copy_firsts
from prlstm.ops.triton.rounds import Pair, Weights, round_bwd, round_fwd


def level_offsets(T: int) -> list[int]:
    """Offset of level ``k >= 1`` in the roots buffer (index ``k - 1``); total ``<= T``."""
    offs, acc = [], 0
    for k in range(1, T.bit_length()):
        offs.append(acc)
        acc += T >> k
    return offs


def _pair(h: Tensor, c: Tensor) -> Pair:
    return view3(h), view3(c)


def _rows(t: Tensor, start: int, step: int, count: int) -> View:
    """Positions ``start, start + step, ...`` (``count``) of a contiguous ``(B, T, H)`` buffer.

    One ``as_strided`` with known strides: the scan builds a few views per round, and on a GPU
    the host time of slicing chains adds up at short T.
    """
    B, T, H = t.shape
    v = t.as_strided((B, count, H), (T * H, step * H, 1), t.storage_offset() + start * H)
    return View(v, T * H, step * H)


class _Layout:
    """Views into the leaves, the roots buffer and the outputs of one scan (or their grads).

    All six buffers are contiguous ``(B, T, H)`` tensors.
    """

    def __init__(self, leaves: tuple[Tensor, Tensor], roots: tuple[Tensor, Tensor],
                 out: tuple[Tensor, Tensor]) -> None:
        for t in (*leaves, *roots, *out):
            if not t.is_contiguous():
                raise ValueError(f"scan buffers must be contiguous, got strides {t.stride()}")
        self.leaves, self.roots, self.out = leaves, roots, out
        self.T = leaves[0].shape[1]
        self.top = self.T.bit_length() - 1
        self.offs = level_offsets(self.T)

    def level(self, k: int, start: int = 0, step: int = 1, count: int | None = None) -> Pair:
        """Blocks ``start, start + step, ...`` of level ``k`` (level 0 = leaves); ``count``
        defaults to all of the level's ``T >> k`` blocks."""
        bufs = self.leaves if k == 0 else self.roots
        base = 0 if k == 0 else self.offs[k - 1]
        if count is None:
            count = self.T >> k
        return (_rows(bufs[0], base + start, step, count),
                _rows(bufs[1], base + start, step, count))

    def outs(self, start: int, step: int, count: int) -> Pair:
        """Output positions ``start, start + step, ...`` (``count`` of them)."""
        return _rows(self.out[0], start, step, count), _rows(self.out[1], start, step, count)


def _down_rounds(T: int) -> Iterator[tuple[int, int]]:
    """``(k, n_new)`` of the down-sweep rounds, in forward order (top level first)."""
    for k in range(T.bit_length() - 2, -1, -1):
        n_new = ((T >> k) + 1) // 2 - 1
        if n_new > 0:
            yield k, n_new


def _down_views(lay: _Layout, k: int, n_new: int) -> tuple[Pair, Pair, Pair]:
    """(left prefixes, right roots, destination) of down-sweep level ``k``."""
    step = 2 << k
    left = lay.outs(step - 1, step, n_new)
    right = lay.level(k, 2, 2, n_new)
    dest = lay.outs(3 * (1 << k) - 1, step, n_new)
    return left, right, dest


def scan_fwd(wts: Weights, h0: Tensor, c0: Tensor, chunk: int = 0
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Prefix states of leaves ``h0`` (GEMM dtype), ``c0`` (fp32), both ``(B, T, H)``.

    Returns ``(out_h, out_c, roots_h, roots_c)``: all outputs ``(B, T, H)`` (h in the GEMM
    dtype, c fp32) and the up-sweep roots ``(B, T, H)`` (the first ``T - popcount(T)``
    blocks used), which the backward needs. ``h0``/``c0`` must be contiguous. ``chunk`` (a
    power of two ``>= 2``; 0 = off) runs the bottom ``log2 chunk`` levels of both sweeps as one
    chunk kernel each (:mod:`prlstm.ops.triton.chunk`); same combines, same numbers.
    """
    B, T, H = h0.shape
    kw = {"device": h0.device}
    roots = (torch.empty(B, T, H, dtype=h0.dtype, **kw),
             torch.empty(B, T, H, dtype=torch.float32, **kw))
    out = (torch.empty(B, T, H, dtype=h0.dtype, **kw),
           torch.empty(B, T, H, dtype=torch.float32, **kw))
    lay = _Layout((h0, c0), roots, out)
    levels = min(chunk.bit_length() - 1, lay.top) if chunk > 1 else 0
    if levels:
        from prlstm.ops.triton.chunk import chunk_up

        chunk_up(wts, h0, c0, roots, levels)  # phase 1: levels 1..levels
    for k in range(levels + 1, lay.top + 1):
        n = T >> k
        round_fwd(wts, B, n, lay.level(k - 1, 0, 2, n), lay.level(k - 1, 1, 2, n), lay.level(k))
    copy_firsts((h0, c0), roots, out)  # out[2**k - 1] = first root of level k
    for k, n_new in _down_rounds(T):
        if k >= levels:
            left, right, dest = _down_views(lay, k, n_new)
            round_fwd(wts, B, n_new, left, right, dest)
    if levels:
        from prlstm.ops.triton.chunk import chunk_down

        chunk_down(wts, h0, c0, roots, out, levels)  # phase 3: levels levels-1..0
    return out[0], out[1], roots[0], roots[1]


def scan_bwd(wts: Weights, h0: Tensor, c0: Tensor, out: tuple[Tensor, Tensor],
             roots: tuple[Tensor, Tensor], g_out: tuple[Tensor, Tensor]
             ) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
    """Gradients of :func:`scan_fwd`: ``(g_h0, g_c0, g_weights, g_biases)``, all fp32."""
    B, T, H = h0.shape
    f32 = {"dtype": torch.float32, "device": h0.device}
    g_o = tuple(g.to(torch.float32, memory_format=torch.contiguous_format).clone()
                for g in g_out)  # (B, T, H) each; accumulates the left operands' gradients
    g_r = (torch.zeros(B, T, H, **f32), torch.zeros(B, T, H, **f32))
    g_l = (torch.zeros(B, T, H, **f32), torch.zeros(B, T, H, **f32))
    g_w = [torch.zeros(w.shape, **f32) for w in wts.w]
    g_b = [torch.zeros(b.shape, **f32) for b in wts.b]
    lay = _Layout((h0, c0), roots, out)
    glay = _Layout(g_l, g_r, g_o)  # type: ignore[arg-type]
    for k, n_new in reversed(list(_down_rounds(T))):
        left, right, dest = _down_views(lay, k, n_new)
        g_left, g_right, g_dest = _down_views(glay, k, n_new)
        round_bwd(wts, B, n_new, left, right, g_dest, g_left, g_right, g_w, g_b)
    add_firsts(g_l, g_r, g_o)  # the first roots' share of the outputs' gradients
    for k in range(lay.top, 0, -1):
        n = T >> k
        round_bwd(wts, B, n, lay.level(k - 1, 0, 2, n), lay.level(k - 1, 1, 2, n),
                  glay.level(k), glay.level(k - 1, 0, 2, n), glay.level(k - 1, 1, 2, n),
                  g_w, g_b)
    return g_l[0], g_l[1], g_w, g_b


def combine_fwd(wts: Weights, left: Pair, right: Pair, B: int, m: int
                ) -> tuple[Tensor, Tensor]:
    """One round ``left ⊕ right`` into fresh ``(B, m, H)`` tensors (h GEMM dtype, c fp32)."""
    H, dev = wts.hidden, wts.w[0].device
    h = torch.empty(B, m, H, dtype=wts.dtype, device=dev)
    c = torch.empty(B, m, H, dtype=torch.float32, device=dev)
    round_fwd(wts, B, m, left, right, _pair(h, c))
    return h, c


def as_view(t: Tensor, B: int, m: int) -> View:
    """A ``(B, m, H)`` view of ``t`` (reshaped, and copied only if it must be)."""
    t = t.reshape(B, m, t.shape[-1])
    if t.stride(2) != 1:
        t = t.contiguous()
    return view3(t)
