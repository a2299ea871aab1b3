"""Backward kernels of one LSTM stage (see :mod:`prlstm.ops.triton.fwd`).

``lstm_stage_bwd_kernel`` fuses the GEMM that brings the gradient into the stage's output h
(``dh = dz_next @ W_next``, the next refinement's input gradient) with the stage's gate
backward, recomputing the activations from the stored pre-activations ``z``:

    dc   = dc_ext + dh·σ(o)·(1 - tanh²c)
    dz_o = dh·tanh(c)·σ'(o)      dz_i = dc·tanh(g)·σ'(i)      dz_g = dc·σ(i)·(1 - tanh²g)
    dz_f = dc·c_in·σ'(f)         dc_in = dc·σ(f)

``input_grad_kernel`` adds ``dz @ W[:, j*H : (j+1)*H]`` into strided gradient view ``j`` (the
merge's two children, in one launch).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from prlstm.ops.triton.common import View, mma, row_offsets, sigmoid, tanh
from prlstm.ops.triton.config import Tiles, interpreting


@triton.jit
def _gate_bwd(dc, s, c_in, dz_ptrs, g_ptr, g_off, n, mask, ACC: tl.constexpr):
    """Forget gate ``f`` of one c input: store ``dz_f`` and (add) ``dc_in = dc·σ(f)``."""
    tl.store(dz_ptrs, (dc * c_in * s * (1.0 - s)).to(dz_ptrs.dtype.element_ty), mask=mask)
    g = dc * s
    g_ptrs = g_ptr + g_off[:, None] + n[None, :]
    if ACC:
        g += tl.load(g_ptrs, mask=mask, other=0.0)
    tl.store(g_ptrs, g, mask=mask)


@triton.jit
def lstm_stage_bwd_kernel(
    z_ptr,  # (B*m, G*H) fp32 pre-activations of this stage
    c1_ptr, c1_sb, c1_sj, c2_ptr, c2_sb, c2_sj,  # the stage's c inputs
    dh_ptr, dh_sb, dh_sj,  # external gradient of the stage's h output (when HAS_DH)
    dc_ptr, dc_sb, dc_sj,  # external gradient of the stage's c output (fp32)
    dzn_ptr, wn_ptr, KN,  # next stage: dz (B*m, KN) and its W (KN, H) (when HAS_NEXT)
    dz_ptr,  # out: (B*m, G*H) gradient of z, GEMM dtype
    g1_ptr, g1_sb, g1_sj, g2_ptr, g2_sb, g2_sj,  # out: gradients of the c inputs (fp32)
    rows, m, H,
    NC: tl.constexpr, HAS_DH: tl.constexpr, HAS_NEXT: tl.constexpr, ACC: tl.constexpr,
    DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    """Gate backward of ``BM`` rows x ``BN`` units; ``ACC`` adds into the c-input grads."""
    r = tl.program_id(0) * BM + tl.arange(0, BM)
    n = tl.program_id(1) * BN + tl.arange(0, BN)
    rmask = r < rows
    nmask = n < H
    mask = rmask[:, None] & nmask[None, :]
    r64 = r.to(tl.int64)
    GH = (3 + NC) * H
    dh = tl.zeros((BM, BN), dtype=tl.float32)
    if HAS_NEXT:
        for q0 in range(0, KN, BK):
            qq = q0 + tl.arange(0, BK)
            qmask = qq < KN
            a = tl.load(dzn_ptr + r64[:, None] * KN + qq[None, :],
                        mask=rmask[:, None] & qmask[None, :], other=0.0)  # (BM, BK)
            w = tl.load(wn_ptr + qq.to(tl.int64)[:, None] * H + n[None, :],
                        mask=qmask[:, None] & nmask[None, :], other=0.0)  # (BK, BN)
            dh = mma(a, w, dh, DOT_F32, PRECISION)
    if HAS_DH:
        dh += tl.load(dh_ptr + row_offsets(r, m, dh_sb, dh_sj)[:, None] + n[None, :],
                      mask=mask, other=0.0).to(tl.float32)
    dc = tl.load(dc_ptr + row_offsets(r, m, dc_sb, dc_sj)[:, None] + n[None, :], mask=mask,
                 other=0.0).to(tl.float32)
    z_ptrs = z_ptr + r64[:, None] * GH + n[None, :]
    s_i = sigmoid(tl.load(z_ptrs, mask=mask, other=0.0))
    t_g = tanh(tl.load(z_ptrs + H, mask=mask, other=0.0))
    s_o = sigmoid(tl.load(z_ptrs + 2 * H, mask=mask, other=0.0))
    s_1 = sigmoid(tl.load(z_ptrs + 3 * H, mask=mask, other=0.0))
    c1_off = row_offsets(r, m, c1_sb, c1_sj)
    c1 = tl.load(c1_ptr + c1_off[:, None] + n[None, :], mask=mask, other=0.0).to(tl.float32)
    c = s_i * t_g + s_1 * c1
    c2_off = row_offsets(r, m, c2_sb, c2_sj)
    if NC == 2:
        s_2 = sigmoid(tl.load(z_ptrs + 4 * H, mask=mask, other=0.0))
        c2 = tl.load(c2_ptr + c2_off[:, None] + n[None, :], mask=mask,
                     other=0.0).to(tl.float32)
        c = c + s_2 * c2
    t_c = tanh(c)
    dc = dc + dh * s_o * (1.0 - t_c * t_c)
    dz_ptrs = dz_ptr + r64[:, None] * GH + n[None, :]
    out_ty = dz_ptr.dtype.element_ty
    tl.store(dz_ptrs, (dc * t_g * s_i * (1.0 - s_i)).to(out_ty), mask=mask)
    tl.store(dz_ptrs + H, (dc * s_i * (1.0 - t_g * t_g)).to(out_ty), mask=mask)
    tl.store(dz_ptrs + 2 * H, (dh * t_c * s_o * (1.0 - s_o)).to(out_ty), mask=mask)
    _gate_bwd(dc, s_1, c1, dz_ptrs + 3 * H, g1_ptr, row_offsets(r, m, g1_sb, g1_sj), n, mask,
              ACC)
    if NC == 2:
        _gate_bwd(dc, s_2, c2, dz_ptrs + 4 * H, g2_ptr, row_offsets(r, m, g2_sb, g2_sj), n,
                  mask, ACC)


@triton.jit
def input_grad_kernel(
    dz_ptr, KZ,  # (B*m, KZ) gradient of z, GEMM dtype
    w_ptr, ldw,  # W (KZ, ldw) row-major: output j uses columns j*H .. (j+1)*H
    o1_ptr, o1_sb, o1_sj,  # fp32 gradient views (B, m, H), accumulated into
    o2_ptr, o2_sb, o2_sj,
    rows, m, H,
    NO: tl.constexpr,  # number of outputs (1 or 2)
    DOT_F32: tl.constexpr, PRECISION: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    """``out_j[r, n] += Σ_q dz[r, q] · W[q, j*H + n]`` on ``BM`` rows x ``BN`` units.

    Grid: row tiles x (``NO`` x unit tiles); the second axis picks the output, then the units.
    """
    n_tiles = tl.cdiv(H, BN)
    pid_n = tl.program_id(1)
    side = pid_n // n_tiles
    r = tl.program_id(0) * BM + tl.arange(0, BM)
    n = (pid_n - side * n_tiles) * BN + tl.arange(0, BN)
    rmask = r < rows
    nmask = n < H
    r64 = r.to(tl.int64)
    col0 = side * H
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for q0 in range(0, KZ, BK):
        qq = q0 + tl.arange(0, BK)
        qmask = qq < KZ
        a = tl.load(dz_ptr + r64[:, None] * KZ + qq[None, :],
                    mask=rmask[:, None] & qmask[None, :], other=0.0)  # (BM, BK)
        w = tl.load(w_ptr + qq.to(tl.int64)[:, None] * ldw + col0 + n[None, :],
                    mask=qmask[:, None] & nmask[None, :], other=0.0)  # (BK, BN)
        acc = mma(a, w, acc, DOT_F32, PRECISION)
    mask = rmask[:, None] & nmask[None, :]
    o_ptr, o_sb, o_sj = o1_ptr, o1_sb, o1_sj
    if NO == 2:
        if side == 1:
            o_ptr, o_sb, o_sj = o2_ptr, o2_sb, o2_sj
    o_ptrs = o_ptr + row_offsets(r, m, o_sb, o_sj)[:, None] + n[None, :]
    tl.store(o_ptrs, acc + tl.load(o_ptrs, mask=mask, other=0.0), mask=mask)


def stage_bwd(z: Tensor, cs: tuple[View, ...], dh: View | None, dc: View,
              nxt: tuple[Tensor, Tensor] | None, dz: Tensor, gcs: tuple[View, ...],
              accumulate: bool, B: int, m: int, tiles: Tiles, precision: str) -> None:
    """Launch the gate backward of one stage over ``B * m`` rows.

    Args:
        z: ``(B * m, G * H)`` fp32 pre-activations (from the recomputation).
        cs: the stage's ``NC`` c-input views; ``gcs`` their fp32 gradient views (written, or
            added to when ``accumulate``).
        dh: external gradient of the stage's h output, or None.
        dc: gradient of the stage's c output (fp32 view).
        nxt: ``(dz_next (B*m, KN), W_next (KN, H))`` when a refinement follows, else None.
        dz: ``(B * m, G * H)`` output, GEMM dtype.
    """
    NC = len(cs)
    H = z.shape[1] // (3 + NC)
    rows = B * m
    dh_v = dh if dh is not None else dc
    dzn, wn = nxt if nxt is not None else (dz, dz)
    grid = (triton.cdiv(rows, tiles.bm), triton.cdiv(H, tiles.bn))
    lstm_stage_bwd_kernel[grid](
        z, cs[0].t, cs[0].sb, cs[0].sj, cs[-1].t, cs[-1].sb, cs[-1].sj,
        dh_v.t, dh_v.sb, dh_v.sj, dc.t, dc.sb, dc.sj,
        dzn, wn, dzn.shape[1],
        dz, gcs[0].t, gcs[0].sb, gcs[0].sj, gcs[-1].t, gcs[-1].sb, gcs[-1].sj,
        rows, m, H,
        NC=NC, HAS_DH=dh is not None, HAS_NEXT=nxt is not None, ACC=accumulate,
        DOT_F32=interpreting() and dz.dtype != torch.float32, PRECISION=precision,
        BM=tiles.bm, BN=tiles.bn, BK=tiles.bk,
        num_warps=tiles.num_warps, num_stages=tiles.num_stages,
    )


def input_grad(dz: Tensor, w: Tensor, outs: tuple[View, ...], B: int, m: int, tiles: Tiles,
               precision: str) -> None:
    """``outs[j] += dz @ W[:, j*H : (j+1)*H]`` for ``dz (B*m, KZ)``, ``W (KZ, ldw)``, in one
    launch (one or two outputs: the merge's children)."""
    if len(outs) not in (1, 2):
        raise ValueError(f"input_grad takes 1 or 2 outputs, got {len(outs)}")
    H = outs[0].t.shape[-1]
    rows = B * m
    o1, o2 = outs[0], outs[-1]
    grid = (triton.cdiv(rows, tiles.bm), len(outs) * triton.cdiv(H, tiles.bn))
    input_grad_kernel[grid](
        dz, dz.shape[1], w, w.shape[1], o1.t, o1.sb, o1.sj, o2.t, o2.sb, o2.sj, rows, m, H,
        NO=len(outs), DOT_F32=interpreting() and dz.dtype != torch.float32,
        PRECISION=precision, BM=tiles.bm, BN=tiles.bn, BK=tiles.bk,
        num_warps=tiles.num_warps, num_stages=tiles.num_stages,
    )
