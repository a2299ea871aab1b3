"""Chunked evaluation of the tree scan (docs/model.md#chunked-form): exact, in three phases.

With chunk size ``C = 2**k``: (1) an up-sweep inside every aligned chunk gives its in-chunk
block roots and the chunk's root; (2) the same scan over the chunk roots gives the prefix
state at the end of every chunk; (3) inside chunk ``j`` a down-sweep folds the previous chunks'
prefix through the in-chunk blocks. Every position gets exactly the bracketing of the
reference: for ``t + 1 = jC + u`` with ``0 < u < C`` the blocks of size >= C are those of
``jC`` and fold to the state at the end of chunk ``j - 1``; the last position of a chunk is
the phase-2 result itself. The combines are the same as :mod:`prlstm.ops.levelwise`'s when
T is a multiple of C. Phases 1 and 3 touch one chunk at a time, which is what lets a fused
kernel keep the bottom ``log2 C`` levels on chip; this module is the plain-PyTorch form of
that plan. For the stream state the in-chunk roots and the up-sweep over the chunk roots
give every level's block roots; continuing a stream (``state=``) runs the level-wise
:func:`~prlstm.ops.levelwise.extend` (the same combines; there is no chunked form of it).
"""

from __future__ import annotations

import torch

from prlstm.ops import levelwise
from prlstm.ops.api import ScanBackend
from prlstm.ops.common import Combine, State
from prlstm.ops.levelwise import Levelwise

DEFAULT_CHUNK = 64


def _phases(combine: Combine, leaves: State, chunk: int, outputs: bool
            ) -> tuple[list[State], State | None]:
    """Block roots of every level ``(B, T >> k, H)`` and (``outputs``) all prefix states."""
    if chunk < 1 or chunk & (chunk - 1):
        raise ValueError(f"chunk must be a power of two >= 1, got {chunk}")
    B, T, H = leaves[0].shape
    chunk = min(chunk, 1 << max(0, T - 1).bit_length())  # a chunk longer than T only pads
    n_chunks = -(-T // chunk)
    pad = n_chunks * chunk - T  # right padding never changes valid outputs (causality)
    if pad:
        leaves = tuple(torch.cat((s, s[:, -1:].expand(B, pad, H)), dim=1) for s in leaves)
    rows = tuple(s.reshape(B * n_chunks, chunk, H) for s in leaves)  # one row per chunk
    inner = levelwise.upsweep(combine, rows)  # phase 1: in-chunk roots, top = chunk roots
    c = len(inner) - 1
    outer = levelwise.upsweep(combine, tuple(r.reshape(B, n_chunks, H) for r in inner[-1]))
    roots = [tuple(r.reshape(B, -1, H)[:, : T >> k] for r in inner[k]) if k <= c else
             tuple(r[:, : T >> k] for r in outer[k - c]) for k in range(T.bit_length())]
    if not outputs:
        return roots, None
    ends = levelwise.downsweep(combine, outer)  # phase 2: prefix at every chunk end
    first = levelwise.downsweep(combine, [tuple(r.reshape(B, n_chunks, -1, H)[:, 0]
                                                for r in level) for level in inner])
    out = [first]  # phase 3: chunk 0 has no carry; the others fold the previous chunk's end
    if n_chunks > 1:
        rest = [tuple(r.reshape(B, n_chunks, -1, H)[:, 1:].reshape(B * (n_chunks - 1), -1, H)
                      for r in level) for level in inner]
        init = tuple(e[:, :-1].reshape(B * (n_chunks - 1), H) for e in ends)
        top = tuple(e[:, 1:].reshape(B * (n_chunks - 1), 1, H) for e in ends)
        out.append(tuple(s.reshape(B, (n_chunks - 1) * chunk, H)
                         for s in levelwise.downsweep(combine, rest, init, top)))
    return roots, tuple(torch.cat(parts, dim=1)[:, :T] for parts in zip(*out, strict=True))


class Chunked(Levelwise):
    """The three-phase chunked form with chunks of ``chunk`` positions (a power of two)."""

    name = "chunked"

    def __init__(self, chunk: int = DEFAULT_CHUNK) -> None:
        self.chunk = chunk

    def sweep(self, combine: Combine, leaves: State) -> tuple[list[State], State]:
        roots, out = _phases(combine, leaves, self.chunk, outputs=True)
        assert out is not None
        return roots, out

    def prefix(self, combine: Combine, leaves: State) -> State:
        return self.sweep(combine, leaves)[1]

    def upsweep(self, combine: Combine, leaves: State) -> list[State] | None:
        return _phases(combine, leaves, self.chunk, outputs=False)[0]


BACKEND: ScanBackend = Chunked()
scan = BACKEND.scan
