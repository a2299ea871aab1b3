"""The Triton backend: fused combine kernels for CUDA (and the Triton CPU interpreter).

* :func:`make_combine` turns a :class:`~prlstm.cells.CombineCell` into a drop-in replacement
  for ``cell.combine``: one custom op per batch of combines that runs the merge GEMM fused
  with its gate epilogue and each refinement fused likewise, with a recomputing backward.
* :func:`scan` (the shared signature of :mod:`prlstm.ops.api`) runs the whole tree schedule
  of such a combine as one custom op (``prlstm::lstm_tree_scan``): the same rounds as
  :mod:`prlstm.ops.levelwise`, each reading and writing strided views of preallocated
  buffers, and a backward that replays the rounds in reverse, recomputing one round at a
  time (saved memory: leaves, roots, outputs — linear in T). With ``chunk = C`` the forward
  runs the bottom ``log2 C`` levels of each sweep as one launch per sweep
  (:mod:`prlstm.ops.triton.chunk`, the chunked form of docs/model.md#chunked-form; same
  combines, same numbers; off by default, unmeasured on a GPU). Any other combine
  (``rnn``/``gru`` cells, unsupported dtypes) falls back to the level-wise rounds with
  ``cell.combine``; so do the paths that need the stream state.
* :func:`verified` runs the one-time check that ``backend="auto"`` needs before it trusts
  the kernels on a device and dtype (:mod:`prlstm.ops.triton.check`).

GEMM operands are fp32 or bf16/fp16 (autocast's dtype when autocast is on), accumulation
and the cell state ``c`` are fp32 inside the op; returned ``c`` has the dtype the torch
backends would give it. Kernels are imported lazily, so importing this package needs
neither Triton nor a GPU; :func:`available` says whether the backend can run.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from prlstm.cells import CombineCell, State
from prlstm.ops.common import Combine
from prlstm.ops.levelwise import Levelwise
from prlstm.ops.triton.config import chunk_size, interpreting

__all__ = ["FusedCombine", "Triton", "available", "gemm_dtype", "make_combine", "scan", "verified"]

_GEMM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def available() -> bool:
    """Triton is importable and kernels can run: CUDA is present or ``TRITON_INTERPRET=1``."""
    if importlib.util.find_spec("triton") is None:
        return False
    return torch.cuda.is_available() or interpreting()


def gemm_dtype(x: Tensor, param: Tensor) -> torch.dtype:
    """Autocast's dtype for ``x``'s device when autocast is on, else the parameters'."""
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return param.dtype


class FusedCombine:
    """``cell.combine`` as fused Triton kernels (``lstm`` cells; others delegate).

    Raises ``ValueError`` for a cell with a non-gated merge (the kernels implement ``gated``).

    Reads the cell's parameters at every call, so it stays valid while they train.
    ``chunk`` (see :func:`~prlstm.ops.triton.config.chunk_size`) selects the forward's chunk
    kernels in :meth:`tree_scan`; ``None`` reads ``PRLSTM_TRITON_CHUNK`` (default 0, off).
    """

    def __init__(self, cell: CombineCell, chunk: int | None = None) -> None:
        if cell.merge_kind != "gated":
            raise ValueError(f"the triton backend has fused kernels for merge='gated' only, got "
                             f"merge={cell.merge_kind!r}; use backend='levelwise'")
        self.cell = cell
        self.chunk = chunk_size(chunk)
        self.fused = cell.cell == "lstm"
        if self.fused:
            import prlstm.ops.triton.ops  # noqa: F401  (registers the custom ops)

    def _params(self, dtype: torch.dtype) -> tuple[list[Tensor], list[Tensor]]:
        """Weights in ``dtype`` (merge first) and fp32 biases (zeros when bias=False)."""
        lins = [self.cell.merge, *self.cell.refine]
        weights = [lin.weight.to(dtype) for lin in lins]
        biases = [lin.bias.float() if lin.bias is not None else
                  torch.zeros(lin.out_features, device=lin.weight.device) for lin in lins]
        return weights, biases

    def _dtype(self, x: Tensor) -> torch.dtype | None:
        """The GEMM dtype, or None when the kernels do not support it (then delegate)."""
        dt = gemm_dtype(x, self.cell.merge.weight)
        return dt if self.fused and dt in _GEMM_DTYPES else None

    def __call__(self, left: State, right: State) -> State:
        """``left ⊕ right`` on states of any (equal) leading shape ``(..., H)``."""
        dt = self._dtype(left[0])
        if dt is None:
            return self.cell.combine(left, right)
        weights, biases = self._params(dt)
        f32 = torch.float32
        h, c = torch.ops.prlstm.lstm_combine(left[0].to(dt), left[1].to(f32), right[0].to(dt),
                                             right[1].to(f32), weights, biases)
        return h, c.to(torch.promote_types(left[1].dtype, right[1].dtype))

    def tree_scan(self, leaves: State) -> State | None:
        """All prefix states of ``leaves (B, T, H)`` in one op, or None if not fused."""
        dt = self._dtype(leaves[0])
        if dt is None:
            return None
        h0, c0 = leaves
        weights, biases = self._params(dt)
        out_h, out_c, _, _ = torch.ops.prlstm.lstm_tree_scan(
            h0.to(dt), c0.to(torch.float32), weights, biases, self.chunk)
        return out_h, out_c.to(c0.dtype)


def make_combine(cell: CombineCell, chunk: int | None = None) -> Combine:
    """A drop-in replacement for ``cell.combine`` running fused Triton kernels.

    ``chunk``: chunk size of the whole-scan op's chunk kernels (0 = one launch per round;
    ``None`` reads ``PRLSTM_TRITON_CHUNK``, default 0).
    """
    return FusedCombine(cell, chunk)


class Triton(Levelwise):
    """The level-wise backend with fused combines; the outputs-only pass is one tree op.

    Paths that need the stream state or block roots (``prefill``, ``final_state``, chunk
    continuation, ``step``) run the level-wise rounds with the fused combine per round.
    Anything else than a :class:`FusedCombine` of an lstm cell runs plain level-wise.
    """

    name = "triton"

    def prefix(self, combine: Combine, leaves: State) -> State:
        if isinstance(combine, FusedCombine):
            out = combine.tree_scan(leaves)
            if out is not None:
                return out
        return super().prefix(combine, leaves)


BACKEND = Triton()
scan = BACKEND.scan


def verified(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the kernels passed the one-time check on ``device`` and ``dtype``."""
    from prlstm.ops.triton.check import verified as check

    return check(device, dtype)
