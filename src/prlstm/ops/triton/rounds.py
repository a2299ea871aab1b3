"""One *round*: a batch of independent combines (merge + R refinements), forward and backward.

A round's operands are views (:class:`~prlstm.ops.triton.common.View`) of shape ``(B, m, H)``:
the left children, the right children and the destination, each an ``(h, c)`` pair. The
forward launches one fused kernel per stage. The backward recomputes the round's stages
(storing their pre-activations), then walks them in reverse with the fused gate-backward
kernels, adds the children's gradients into their views and the weight gradients into fp32
accumulators. Only one round's intermediates are alive at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from prlstm.ops.triton.bwd import input_grad, stage_bwd
from prlstm.ops.triton.common import View, flat
from prlstm.ops.triton.config import Tiles, dot_precision, tiles

Pair = tuple[View, View]  # (h view, c view)


@dataclass
class Weights:
    """One combine's maps in kernel layout.

    ``w[s]`` is stage ``s``'s weight ``(G_s * H, K_s)`` (stage 0 the merge, ``G = 5, K = 2H``;
    then the refinements, ``G = 4, K = H``) in the GEMM dtype, ``wt[s]`` its contiguous
    transpose and ``b[s]`` its fp32 bias ``(G_s * H,)``.
    """

    w: list[Tensor]
    wt: list[Tensor]
    b: list[Tensor]
    hidden: int
    tiles: Tiles
    precision: str

    @classmethod
    def build(cls, weights: list[Tensor], biases: list[Tensor]) -> Weights:
        """From the op's arguments: weights ``[(5H, 2H), (4H, H), ...]``, fp32 biases."""
        w = [x.contiguous() for x in weights]
        H = w[0].shape[1] // 2
        dtype = w[0].dtype
        return cls(w, [x.t().contiguous() for x in w], [b.float().contiguous() for b in biases],
                   H, tiles(H, dtype), dot_precision(dtype))

    def stacked_refinements(self) -> tuple[Tensor, Tensor]:
        """Refinements' ``W^T`` stacked ``(R, H, 4H)`` and biases ``(R, 4H)``.

        With ``R = 0`` returns the merge's (never read), so kernels always get real pointers.
        """
        if len(self.w) == 1:
            return self.wt[0], self.b[0]
        return torch.stack(self.wt[1:]), torch.stack(self.b[1:])

    @property
    def dtype(self) -> torch.dtype:
        """The GEMM dtype (of h and the weights)."""
        return self.w[0].dtype


def round_fwd(wts: Weights, B: int, m: int, left: Pair, right: Pair, out: Pair,
              keep: bool = False) -> list[tuple[Tensor, Pair]]:
    """``out = left ⊕ right`` on ``B * m`` pairs.

    With ``keep`` returns, per stage, ``(z (B*m, G*H) fp32, stage input (h, c))`` for the
    backward (the merge's input pair is the left child's; its right child is implied).
    """
    from prlstm.ops.triton.fwd import stage_fwd

    rows, H, S = B * m, wts.hidden, len(wts.w)
    saved: list[tuple[Tensor, Pair]] = []
    xs, cs = (left[0], right[0]), (left[1], right[1])
    for s in range(S):
        if s == S - 1:
            h_out, c_out = out
        else:
            h_out = flat(torch.empty(rows, H, dtype=wts.dtype, device=wts.w[0].device), m)
            c_out = flat(torch.empty(rows, H, dtype=torch.float32, device=wts.w[0].device), m)
        z = None
        if keep:
            z = torch.empty(rows, wts.w[s].shape[0], dtype=torch.float32, device=wts.w[0].device)
            saved.append((z, (xs[0], cs[0])))
        stage_fwd(xs, cs, wts.wt[s], wts.b[s], h_out, c_out, z, B, m, wts.tiles, wts.precision)
        xs, cs = (h_out,), (c_out,)
    return saved


def _acc_mm(acc: Tensor, a: Tensor, b: Tensor) -> None:
    """``acc += a @ b`` with ``acc`` fp32 and ``a, b`` in the GEMM dtype."""
    if a.dtype == torch.float32:
        acc.addmm_(a, b)
    else:
        acc.add_(torch.mm(a, b))


def round_bwd(wts: Weights, B: int, m: int, left: Pair, right: Pair, g_out: Pair,
              g_left: Pair, g_right: Pair, g_w: list[Tensor], g_b: list[Tensor]) -> None:
    """Backward of :func:`round_fwd`: adds into ``g_left``/``g_right`` and ``g_w``/``g_b``.

    ``g_out`` holds the gradients of the round's outputs; all gradient views and
    accumulators are fp32. Left, right and output rows must not overlap within the round.
    """
    rows, H, S = B * m, wts.hidden, len(wts.w)
    dev = wts.w[0].device
    sink = (flat(torch.empty(rows, H, dtype=wts.dtype, device=dev), m),
            flat(torch.empty(rows, H, dtype=torch.float32, device=dev), m))
    saved = round_fwd(wts, B, m, left, right, sink, keep=True)
    del sink
    nxt: tuple[Tensor, Tensor] | None = None
    dc: View = g_out[1]
    for s in range(S - 1, -1, -1):
        z, (h_in, c_in) = saved.pop()  # stage s; its z is freed after this iteration
        dz = torch.empty(rows, z.shape[1], dtype=wts.dtype, device=dev)
        if s == 0:
            cs, gcs, acc = (left[1], right[1]), (g_left[1], g_right[1]), True
        else:
            g_c = flat(torch.empty(rows, H, dtype=torch.float32, device=dev), m)
            cs, gcs, acc = (c_in,), (g_c,), False
        stage_bwd(z, cs, g_out[0] if s == S - 1 else None, dc, nxt, dz, gcs, acc, B, m,
                  wts.tiles, wts.precision)
        del z
        dzt = dz.t()
        if s == 0:  # one GEMM over [h_L; h_R] (B*m, 2H), gathered by one cat
            x = torch.cat((left[0].t.reshape(B, m, H), right[0].t.reshape(B, m, H)), dim=-1)
            _acc_mm(g_w[0], dzt, x.reshape(rows, 2 * H))
        else:
            _acc_mm(g_w[s], dzt, h_in.rows(H))
        g_b[s].add_(dz.sum(0, dtype=torch.float32))
        nxt, dc = (dz, wts.w[s]), gcs[0]
    assert nxt is not None
    dz0 = nxt[0]
    input_grad(dz0, wts.w[0], (g_left[0], g_right[0]), B, m, wts.tiles, wts.precision)
