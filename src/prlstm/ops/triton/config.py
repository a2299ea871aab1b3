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


def _fixed_tiles(var: str) -> Tiles | None:
    """The interpreter's tiles, or those of environment variable ``var``
    (``"bm,bn,bk,warps,stages"``), or None."""
    if interpreting():
        return Tiles(16, 16, 16, 1, 1)
    env = os.environ.get(var, "").strip()
    if not env:
        return None
    try:
        values = [int(v) for v in env.split(",")]
    except ValueError:
        values = []
    if len(values) != 5 or min(values) < 1:
        raise ValueError(f"{var} must be five positive ints 'bm,bn,bk,warps,stages', "
                         f"got {env!r}")
    return Tiles(*values)


def tiles(hidden: int, dtype: torch.dtype) -> Tiles:
    """Tiles for hidden size ``hidden`` and GEMM operand ``dtype``.

    ``tl.dot`` needs every tile side >= 16. The interpreter runs one program at a time in
    numpy, so it gets the smallest legal tiles. The GPU defaults compile for sm_90 without
    register spills (checked by :mod:`prlstm.ops.triton.aot`); they are not tuned on a GPU
    yet. ``PRLSTM_TRITON_TILES="bm,bn,bk,warps,stages"`` overrides them (for sweeps).
    """
    fixed = _fixed_tiles("PRLSTM_TRITON_TILES")
    if fixed:
        return fixed
    half = dtype in (torch.bfloat16, torch.float16)
    bk = 64 if half else 32
    bk = min(bk, max(16, 1 << (hidden - 1).bit_length()))  # no wider than H (rounded up)
    bn = 32 if hidden >= 32 else 16
    return Tiles(64, bn, bk, 8, 3)


def chunk_tiles(hidden: int, dtype: torch.dtype) -> Tiles:
    """Tiles of the chunk kernels (:mod:`prlstm.ops.triton.chunk`).

    Their programs loop over unit tiles, levels and stages, so they need more registers than
    a per-round launch: ``BN = 16``, ``BK = 32`` (bf16; 16 for fp32), 8 warps and no software
    pipelining compile for sm_90 at H = 256 without spills in bf16 (180 registers at R = 1;
    wider tiles spilled in the AOT check), in fp32 with small spills at R = 0 only (40-88 bytes
    per thread with Triton 3.9 / 3.6).
    ``PRLSTM_TRITON_CHUNK_TILES="bm,bn,bk,warps,stages"`` overrides them.
    """
    fixed = _fixed_tiles("PRLSTM_TRITON_CHUNK_TILES")
    if fixed:
        return fixed
    bk = 32 if dtype in (torch.bfloat16, torch.float16) else 16  # fp32 dots use more registers
    return Tiles(64, 16, min(bk, max(16, 1 << (hidden - 1).bit_length())), 8, 1)


def chunk_size(chunk: int | None = None) -> int:
    """Chunk size of the chunk kernels: ``chunk`` if given, else ``PRLSTM_TRITON_CHUNK``, else 0.

    0 (the default) runs every level as its own round; a power of two ``C >= 2`` runs the bottom
    ``log2 C`` levels of each sweep in one launch (:mod:`prlstm.ops.triton.chunk`). Off by
    default until a GPU measurement shows where it wins (``benchmarks/speed.py`` times both).
    """
    if chunk is None:
        env = os.environ.get("PRLSTM_TRITON_CHUNK", "0").strip() or "0"
        try:
            chunk = int(env)
        except ValueError:
            raise ValueError(f"PRLSTM_TRITON_CHUNK must be 0 or a power of two >= 2, "
                             f"got {env!r}") from None
        name = "PRLSTM_TRITON_CHUNK"
    else:
        name = "chunk"
    if isinstance(chunk, bool) or not isinstance(chunk, int):
        raise TypeError(f"{name} must be an int, got {type(chunk).__name__}")
    if chunk != 0 and (chunk < 2 or chunk & (chunk - 1)):
        raise ValueError(f"{name} must be 0 or a power of two >= 2, got {chunk}")
    return chunk


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: fp32 follows ``torch.backends.cuda.matmul.allow_tf32``.

    The default (TF32 off) gives IEEE fp32 products like ``nn.Linear``; bf16 operands ignore it.
    """
    if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"
