"""Chunk kernels: the bottom ``log2 C`` levels of the tree scan in one launch each.

The plan is the chunked form of docs/model.md#chunked-form.

The chunked three-phase form splits the scan at chunk size ``C = 2**L``. Phase 1 (the
up-sweep inside every aligned chunk) and phase 3 (the down-sweep inside every chunk) only
touch one chunk, so one program can own ``BM`` (sequence, chunk) rows and walk all ``L``
levels of them, instead of one launch per level per stage:

* :func:`chunk_up` writes the in-chunk roots of levels ``1..L`` into the ``roots`` buffer
  (the layout of :mod:`prlstm.ops.triton.tree`);
* :func:`chunk_down` writes every output position of the down-sweep levels ``L-1..0``,
  folding the previous chunk's end state (already in ``out``, from phase 2) into each chunk.

Phase 2 (the levels ``>= L``) is the per-round code of :mod:`~prlstm.ops.triton.tree`.
The combines and their operands are exactly the per-round scan's, so the forward gives the
same numbers (and the per-round backward applies unchanged). Inside a program a combine
runs its merge and its refinements over all ``H`` units, the intermediate states going
through a per-program scratch (L2-resident); a barrier orders each stage's stores before
the next stage's loads, and those loads bypass L1 (``.cg``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from prlstm.ops.triton.config import chunk_tiles, interpreting
from prlstm.ops.triton.fwd import stage_tile
from prlstm.ops.triton.rounds import Weights

CACHE_MOD = tl.constexpr(".cg")  # state loads: written earlier by this same kernel


@triton.jit
def _combine_rows(lh, lc, l_off, rh, rc, r_off, dh, dc, d_off, ok,
                  wt0_ptr, b0_ptr, wtr_ptr, br_ptr, sh, sc, s_off, H,
                  R: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr,
                  PRECISION: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                  BK: tl.constexpr):
    """``d = l ⊕ r`` on ``BM`` rows and all ``H`` units (merge, then ``R`` refinements).

    Stage ``s`` writes scratch buffer ``s % 2`` (rows at ``s_off + (s % 2) * BM * H``) unless
    it is the last, which writes ``d`` at the rows where ``ok``.
    """
    one = BM * H
    all_rows = ok | True  # scratch rows are always stored (masked rows computed on row 0)
    for n0 in range(0, H, BN):
        n = n0 + tl.arange(0, BN)
        if R == 0:
            stage_tile(lh, l_off, rh, r_off, lc, l_off, rc, r_off, wt0_ptr, b0_ptr,
                       dh, d_off, dc, d_off, b0_ptr, d_off, ok, n, H,
                       2, False, EVEN_K, DOT_F32, PRECISION, CACHE_MOD, BM, BN, BK)
        else:
            stage_tile(lh, l_off, rh, r_off, lc, l_off, rc, r_off, wt0_ptr, b0_ptr,
                       sh, s_off, sc, s_off, b0_ptr, s_off, all_rows, n, H,
                       2, False, EVEN_K, DOT_F32, PRECISION, CACHE_MOD, BM, BN, BK)
    tl.debug_barrier()
    for s in tl.static_range(R):
        src = s_off + (s % 2) * one
        wt = wtr_ptr + s * (H * 4 * H)
        b = br_ptr + s * (4 * H)
        for n0 in range(0, H, BN):
            n = n0 + tl.arange(0, BN)
            if s == R - 1:
                stage_tile(sh, src, sh, src, sc, src, sc, src, wt, b, dh, d_off, dc, d_off,
                           b, d_off, ok, n, H,
                           1, False, EVEN_K, DOT_F32, PRECISION, CACHE_MOD, BM, BN, BK)
            else:
                dst = s_off + ((s + 1) % 2) * one
                stage_tile(sh, src, sh, src, sc, src, sc, src, wt, b, sh, dst, sc, dst,
                           b, dst, all_rows, n, H,
                           1, False, EVEN_K, DOT_F32, PRECISION, CACHE_MOD, BM, BN, BK)
        tl.debug_barrier()


@triton.jit
def _program_rows(B, T, H, n_chunks, BM: tl.constexpr):
    """This program's ``BM`` (sequence, chunk) rows: ``(row_ok, j, base, s_off)``.

    ``j`` is each row's chunk index and ``base`` its sequence's position 0 (int64, in positions);
    rows past ``B * n_chunks`` are clamped to the last one and ``row_ok`` is False there.
    ``s_off`` addresses the program's two scratch buffers (element offsets of its rows).
    """
    pid = tl.program_id(0)
    rows = B * n_chunks
    r = pid * BM + tl.arange(0, BM)
    row_ok = r < rows
    r = tl.minimum(r, rows - 1)
    b = r // n_chunks
    j = r - b * n_chunks
    base = b.to(tl.int64) * T
    s_off = pid.to(tl.int64) * (2 * BM * H) + tl.arange(0, BM).to(tl.int64) * H
    return row_ok, j, base, s_off


@triton.jit
def lstm_chunk_up_kernel(
    h0_ptr, c0_ptr,  # leaves (B, T, H) contiguous: h GEMM dtype, c fp32
    rh_ptr, rc_ptr,  # roots buffers (B, T, H): level k at positions off_k .. off_k + T>>k
    wt0_ptr, b0_ptr, wtr_ptr, br_ptr,  # merge W^T (2H, 5H), bias; refinements (R, H, 4H), (R, 4H)
    sh_ptr, sc_ptr,  # scratch (programs * 2 * BM, H)
    B, T, H, n_chunks,
    R: tl.constexpr, LEVELS: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr,
    PRECISION: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    """Phase 1: up-sweep levels ``1..LEVELS`` inside each chunk (one program: BM chunks)."""
    row_ok, j, base, s_off = _program_rows(B, T, H, n_chunks, BM)
    off_prev = 0  # level k - 1's offset in the roots buffer (k >= 2)
    off_k = 0
    for k in tl.static_range(1, LEVELS + 1):
        nb = (1 << LEVELS) >> k  # blocks of level k per chunk
        n_lvl = T >> k
        for p in range(nb):
            blk = j * nb + p  # global block index at level k
            ok = row_ok & (blk < n_lvl)
            d_off = (base + tl.where(ok, off_k + blk, 0)) * H
            if k == 1:
                l_off = (base + tl.where(ok, 2 * blk, 0)) * H
                _combine_rows(h0_ptr, c0_ptr, l_off, h0_ptr, c0_ptr, l_off + H,
                              rh_ptr, rc_ptr, d_off, ok, wt0_ptr, b0_ptr, wtr_ptr, br_ptr,
                              sh_ptr, sc_ptr, s_off, H, R, EVEN_K, DOT_F32, PRECISION,
                              BM, BN, BK)
            else:
                l_off = (base + tl.where(ok, off_prev + 2 * blk, 0)) * H
                _combine_rows(rh_ptr, rc_ptr, l_off, rh_ptr, rc_ptr, l_off + H,
                              rh_ptr, rc_ptr, d_off, ok, wt0_ptr, b0_ptr, wtr_ptr, br_ptr,
                              sh_ptr, sc_ptr, s_off, H, R, EVEN_K, DOT_F32, PRECISION,
                              BM, BN, BK)
        off_prev = off_k
        off_k += n_lvl


@triton.jit
def lstm_chunk_down_kernel(
    h0_ptr, c0_ptr,  # leaves (B, T, H)
    rh_ptr, rc_ptr,  # roots buffers (B, T, H)
    oh_ptr, oc_ptr,  # outputs (B, T, H): chunk ends (phase 2) and the copies already written
    wt0_ptr, b0_ptr, wtr_ptr, br_ptr, sh_ptr, sc_ptr,
    B, T, H, n_chunks,
    R: tl.constexpr, LEVELS: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr,
    PRECISION: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
):
    """Phase 3: down-sweep levels ``LEVELS-1..0`` inside each chunk.

    Level ``k`` writes position ``(q + 1)·2**k - 1`` as ``out[q·2**k - 1] ⊕ roots_k[q]`` for
    every even ``q >= 2`` with ``q + 1 <= T >> k``; the chunk's share is
    ``q = j·C/2**k + 2t``. ``q·2**k - 1`` is a chunk end (phase 2) when ``t = 0``, else a
    position written by a higher level of this program.
    """
    row_ok, j, base, s_off = _program_rows(B, T, H, n_chunks, BM)
    for k in tl.static_range(LEVELS - 1, -1, -1):
        off_k = 0  # level k's offset in the roots buffer (k >= 1)
        for i in tl.static_range(1, k):
            off_k += T >> i
        nb = (1 << LEVELS) >> (k + 1)  # combines of level k per chunk
        n_lvl = T >> k
        for t in range(nb):
            q = j * (2 * nb) + 2 * t
            ok = row_ok & (q >= 2) & (q + 1 <= n_lvl)
            l_off = (base + tl.where(ok, q * (1 << k) - 1, 0)) * H
            d_off = (base + tl.where(ok, (q + 1) * (1 << k) - 1, 0)) * H
            if k == 0:
                r_off = (base + tl.where(ok, q, 0)) * H
                _combine_rows(oh_ptr, oc_ptr, l_off, h0_ptr, c0_ptr, r_off,
                              oh_ptr, oc_ptr, d_off, ok, wt0_ptr, b0_ptr, wtr_ptr, br_ptr,
                              sh_ptr, sc_ptr, s_off, H, R, EVEN_K, DOT_F32, PRECISION,
                              BM, BN, BK)
            else:
                r_off = (base + tl.where(ok, off_k + q, 0)) * H
                _combine_rows(oh_ptr, oc_ptr, l_off, rh_ptr, rc_ptr, r_off,
                              oh_ptr, oc_ptr, d_off, ok, wt0_ptr, b0_ptr, wtr_ptr, br_ptr,
                              sh_ptr, sc_ptr, s_off, H, R, EVEN_K, DOT_F32, PRECISION,
                              BM, BN, BK)


def _launch(kernel: triton.JITFunction, wts: Weights, args: tuple[Tensor, ...], B: int,
            T: int, levels: int) -> None:
    """Launch ``kernel`` over ``B * ceil(T / 2**levels)`` chunk rows with a fresh scratch."""
    H, t = wts.hidden, chunk_tiles(wts.hidden, wts.dtype)
    n_chunks = -(-T // (1 << levels))
    grid = triton.cdiv(B * n_chunks, t.bm)
    dev = wts.w[0].device
    R = len(wts.w) - 1
    n_scratch = grid * 2 * t.bm if R else 1
    sh = torch.empty(n_scratch, H, dtype=wts.dtype, device=dev)
    sc = torch.empty(n_scratch, H, dtype=torch.float32, device=dev)
    wtr, br = wts.stacked_refinements()
    kernel[(grid,)](
        *args, wts.wt[0], wts.b[0], wtr, br, sh, sc, B, T, H, n_chunks,
        R=R, LEVELS=levels, EVEN_K=H % t.bk == 0,
        DOT_F32=interpreting() and wts.dtype != torch.float32, PRECISION=wts.precision,
        BM=t.bm, BN=t.bn, BK=t.bk, num_warps=t.num_warps, num_stages=t.num_stages,
    )


def chunk_up(wts: Weights, h0: Tensor, c0: Tensor, roots: tuple[Tensor, Tensor],
             levels: int) -> None:
    """Phase 1 into ``roots``: levels ``1..levels`` of the up-sweep (all tensors contiguous)."""
    B, T, _ = h0.shape
    _launch(lstm_chunk_up_kernel, wts, (h0, c0, *roots), B, T, levels)


def chunk_down(wts: Weights, h0: Tensor, c0: Tensor, roots: tuple[Tensor, Tensor],
               out: tuple[Tensor, Tensor], levels: int) -> None:
    """Phase 3 into ``out``: down-sweep levels ``levels-1..0`` (needs the chunk ends)."""
    B, T, _ = h0.shape
    _launch(lstm_chunk_down_kernel, wts, (h0, c0, *roots, *out), B, T, levels)
