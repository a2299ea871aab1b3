"""Forward kernel of one LSTM stage: the gate GEMM fused with its epilogue.

A *stage* is the merge (two children, ``NC = 2``) or one refinement (``NC = 1``):
``z = [h_1; ...; h_NC] @ W^T + b`` with gates ``[i|g|o|f_1|...|f_NC]`` (``G = 3 + NC``
blocks of H), then ``c = σ(i)·tanh(g) + Σ_j σ(f_j)·c_j`` and ``h = σ(o)·tanh(c)``.
Each program owns ``BM`` rows and ``BN`` hidden units and accumulates the ``G`` gate tiles of
those units, so the epilogue runs on registers and ``z`` never reaches memory (unless
``STORE_Z``, used by the backward's recomputation).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from prlstm.ops.triton.common import View, mma, row_offsets, sigmoid, tanh
from prlstm.ops.triton.config import Tiles, interpreting


@triton.jit
def _gemm_source(acc_i, acc_g, acc_o, acc_1, acc_2, x_ptr, x_off, wt_ptr, k_base, n, H, GH,
                 NC: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr,
                 PRECISION: tl.constexpr, CACHE: tl.constexpr, BK: tl.constexpr):
    """Add ``x (BM, H) @ W^T[k_base : k_base + H, gate columns of units n]`` per gate.

    Rows ``x_off`` and units ``n`` are clamped in range by the caller, so only the reduction
    tail needs a mask (and none when ``BK`` divides H).
    """
    kk = tl.arange(0, BK)
    a_ptrs = x_ptr + x_off[:, None] + kk[None, :]  # (BM, BK)
    w_ptrs = wt_ptr + (k_base + kk)[:, None] * GH + n[None, :]  # (BK, BN)
    for k0 in range(0, H, BK):
        if EVEN_K:
            a = tl.load(a_ptrs, cache_modifier=CACHE)
            w_i = tl.load(w_ptrs)
            w_g = tl.load(w_ptrs + H)
            w_o = tl.load(w_ptrs + 2 * H)
            w_1 = tl.load(w_ptrs + 3 * H)
        else:
            kmask = (k0 + kk) < H
            a = tl.load(a_ptrs, mask=kmask[None, :], other=0.0, cache_modifier=CACHE)
            w_i = tl.load(w_ptrs, mask=kmask[:, None], other=0.0)
            w_g = tl.load(w_ptrs + H, mask=kmask[:, None], other=0.0)
            w_o = tl.load(w_ptrs + 2 * H, mask=kmask[:, None], other=0.0)
            w_1 = tl.load(w_ptrs + 3 * H, mask=kmask[:, None], other=0.0)
        acc_i = mma(a, w_i, acc_i, DOT_F32, PRECISION)
        acc_g = mma(a, w_g, acc_g, DOT_F32, PRECISION)
        acc_o = mma(a, w_o, acc_o, DOT_F32, PRECISION)
        acc_1 = mma(a, w_1, acc_1, DOT_F32, PRECISION)
        if NC == 2:
            if EVEN_K:
                w_2 = tl.load(w_ptrs + 4 * H)
            else:
                w_2 = tl.load(w_ptrs + 4 * H, mask=((k0 + kk) < H)[:, None], other=0.0)
            acc_2 = mma(a, w_2, acc_2, DOT_F32, PRECISION)
        a_ptrs += BK
        w_ptrs += BK * GH
    return acc_i, acc_g, acc_o, acc_1, acc_2


@triton.jit
def stage_tile(x1_ptr, x1_off, x2_ptr, x2_off, c1_ptr, c1_off, c2_ptr, c2_off, wt_ptr, b_ptr,
               h_ptr, h_off, c_ptr, c_off, z_ptr, z_off, rmask, n, H,
               NC: tl.constexpr, STORE_Z: tl.constexpr, EVEN_K: tl.constexpr,
               DOT_F32: tl.constexpr, PRECISION: tl.constexpr, CACHE: tl.constexpr,
               BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    """One stage on a ``(BM rows, BN units)`` tile: gate GEMMs, then the epilogue.

    ``*_off`` are ``(BM,)`` int64 element offsets of the rows in each operand; the input
    offsets must address real rows (callers clamp them), ``rmask`` masks the stores.
    ``CACHE`` is the cache modifier of the state loads (``".cg"`` when the same kernel wrote
    them). Stores ``z`` (rows at ``z_off``, ``G * H`` wide) when ``STORE_Z``.
    """
    nmask = n < H
    n_ld = tl.minimum(n, H - 1)  # clamped: loads need no masks, stores are masked
    mask = rmask[:, None] & nmask[None, :]
    GH = (3 + NC) * H
    acc_i = tl.zeros((BM, BN), dtype=tl.float32)
    acc_g = tl.zeros((BM, BN), dtype=tl.float32)
    acc_o = tl.zeros((BM, BN), dtype=tl.float32)
    acc_1 = tl.zeros((BM, BN), dtype=tl.float32)
    acc_2 = tl.zeros((BM, BN), dtype=tl.float32)
    acc_i, acc_g, acc_o, acc_1, acc_2 = _gemm_source(
        acc_i, acc_g, acc_o, acc_1, acc_2, x1_ptr, x1_off, wt_ptr, 0, n_ld, H, GH, NC, EVEN_K,
        DOT_F32, PRECISION, CACHE, BK)
    if NC == 2:
        acc_i, acc_g, acc_o, acc_1, acc_2 = _gemm_source(
            acc_i, acc_g, acc_o, acc_1, acc_2, x2_ptr, x2_off, wt_ptr, H, n_ld, H, GH, NC,
            EVEN_K, DOT_F32, PRECISION, CACHE, BK)
    z_i = acc_i + tl.load(b_ptr + n_ld)[None, :]
    z_g = acc_g + tl.load(b_ptr + H + n_ld)[None, :]
    z_o = acc_o + tl.load(b_ptr + 2 * H + n_ld)[None, :]
    z_1 = acc_1 + tl.load(b_ptr + 3 * H + n_ld)[None, :]
    c1 = tl.load(c1_ptr + c1_off[:, None] + n_ld[None, :], cache_modifier=CACHE)
    c = sigmoid(z_i) * tanh(z_g) + sigmoid(z_1) * c1.to(tl.float32)  # (BM, BN) fp32
    if STORE_Z:
        z_ptrs = z_ptr + z_off[:, None] + n[None, :]
        tl.store(z_ptrs, z_i, mask=mask)
        tl.store(z_ptrs + H, z_g, mask=mask)
        tl.store(z_ptrs + 2 * H, z_o, mask=mask)
        tl.store(z_ptrs + 3 * H, z_1, mask=mask)
    if NC == 2:
        z_2 = acc_2 + tl.load(b_ptr + 4 * H + n_ld)[None, :]
        c2 = tl.load(c2_ptr + c2_off[:, None] + n_ld[None, :], cache_modifier=CACHE)
        c = c + sigmoid(z_2) * c2.to(tl.float32)
        if STORE_Z:
            tl.store(z_ptr + z_off[:, None] + 4 * H + n[None, :], z_2, mask=mask)
    h = sigmoid(z_o) * tanh(c)
    tl.store(h_ptr + h_off[:, None] + n[None, :], h.to(h_ptr.dtype.element_ty), mask=mask)
    tl.store(c_ptr + c_off[:, None] + n[None, :], c, mask=mask)


@triton.jit
def lstm_stage_fwd_kernel(
    x1_ptr, x1_sb, x1_sj, x2_ptr, x2_sb, x2_sj,  # stage inputs h (B, m, H)
    c1_ptr, c1_sb, c1_sj, c2_ptr, c2_sb, c2_sj,  # stage inputs c (B, m, H)
    wt_ptr, b_ptr,  # W^T (NC*H, G*H) contiguous, bias (G*H,) fp32
    h_ptr, h_sb, h_sj, c_ptr, c_sb, c_sj,  # outputs (B, m, H)
    z_ptr,  # (B*m, G*H) fp32 pre-activations, written when STORE_Z
    rows, m, H,
    NC: tl.constexpr, STORE_Z: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr,
    PRECISION: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    """One stage on ``BM`` rows x ``BN`` hidden units (grid: row tiles x unit tiles)."""
    r = tl.program_id(0) * BM + tl.arange(0, BM)
    n = tl.program_id(1) * BN + tl.arange(0, BN)
    r_ld = tl.minimum(r, rows - 1)  # clamped rows for the loads
    stage_tile(x1_ptr, row_offsets(r_ld, m, x1_sb, x1_sj),
               x2_ptr, row_offsets(r_ld, m, x2_sb, x2_sj),
               c1_ptr, row_offsets(r_ld, m, c1_sb, c1_sj),
               c2_ptr, row_offsets(r_ld, m, c2_sb, c2_sj), wt_ptr, b_ptr,
               h_ptr, row_offsets(r, m, h_sb, h_sj), c_ptr, row_offsets(r, m, c_sb, c_sj),
               z_ptr, r.to(tl.int64) * ((3 + NC) * H), r < rows, n, H,
               NC, STORE_Z, EVEN_K, DOT_F32, PRECISION, "", BM, BN, BK)


def stage_fwd(xs: tuple[View, ...], cs: tuple[View, ...], wt: Tensor, bias: Tensor,
              h_out: View, c_out: View, z: Tensor | None, B: int, m: int, tiles: Tiles,
              precision: str) -> None:
    """Launch one stage over ``B * m`` rows.

    Args:
        xs, cs: the stage's ``NC`` input h views (GEMM dtype) and c views (any float dtype).
        wt: ``W^T`` of shape ``(NC * H, G * H)``, contiguous, GEMM dtype.
        bias: ``(G * H,)`` fp32.
        h_out, c_out: output views (h in GEMM dtype, c fp32).
        z: ``(B * m, G * H)`` fp32 buffer for the pre-activations, or None.
    """
    H = wt.shape[1] // (3 + len(xs))
    rows = B * m
    x1, x2 = xs[0], xs[-1]
    c1, c2 = cs[0], cs[-1]
    grid = (triton.cdiv(rows, tiles.bm), triton.cdiv(H, tiles.bn))
    lstm_stage_fwd_kernel[grid](
        x1.t, x1.sb, x1.sj, x2.t, x2.sb, x2.sj,
        c1.t, c1.sb, c1.sj, c2.t, c2.sb, c2.sj,
        wt, bias,
        h_out.t, h_out.sb, h_out.sj, c_out.t, c_out.sb, c_out.sj,
        bias if z is None else z,
        rows, m, H,
        NC=len(xs), STORE_Z=z is not None, EVEN_K=H % tiles.bk == 0,
        DOT_F32=interpreting() and wt.dtype != torch.float32, PRECISION=precision,
        BM=tiles.bm, BN=tiles.bn, BK=tiles.bk,
        num_warps=tiles.num_warps, num_stages=tiles.num_stages,
    )
