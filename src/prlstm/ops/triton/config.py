"""Launch settings shared by the Triton kernels: interpreter detection, tiles, precision.

Nothing here imports Triton, so it is safe to import on machines without it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


class Tiles(NamedTuple):
    """Tile sizes of one launch: ``bm`` rows (pairs), ``bn`` hidden units, ``bk`` reduction."""

    bm: int
    bn: int
    bk: int
    num_warps: int
    num_stages: int


def tiles(hidden: int, dtype: torch.dtype) -> Tiles:
    """Tiles for hidden size ``hidden`` and GEMM operand ``dtype``.

    ``tl.dot`` needs every tile side >= 16. The interpreter runs one program at a time in
    numpy, so it gets the smallest legal tiles. The GPU defaults compile for sm_90 without
    register spills (checked by :mod:`prlstm.ops.triton.aot`); they are not tuned on a GPU
    yet. ``PRLSTM_TRITON_TILES="bm,bn,bk,warps,stages"`` overrides them (for sweeps).
    """
    if interpreting():
        return Tiles(16, 16, 16, 1, 1)
    env = os.environ.get("PRLSTM_TRITON_TILES")
    if env:
        bm, bn, bk, warps, stages = (int(v) for v in env.split(","))
        return Tiles(bm, bn, bk, warps, stages)
    half = dtype in (torch.bfloat16, torch.float16)
    bk = 64 if half else 32
    bk = min(bk, max(16, 1 << (hidden - 1).bit_length()))  # no wider than H (rounded up)
    bn = 32 if hidden >= 32 else 16
    return Tiles(64, bn, bk, 8, 3)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: fp32 follows ``torch.backends.cuda.matmul.allow_tf32``.

    The default (TF32 off) gives IEEE fp32 products like ``nn.Linear``; bf16 operands ignore it.
    """
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"
