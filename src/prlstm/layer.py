"""``PRLSTM``: the Parallel Recursive LSTM layer with an ``nn.LSTM``-like API.

Each token is mapped to a state on its own (the leaf map); a learned combine merges two states;
merges follow the fixed tree schedule of docs/model.md#the-block-schedule, so every prefix state
comes out in ``O(log T)`` rounds. ``forward`` runs the parallel scan, ``step`` streams one token
at a time with identical outputs, ``prefill`` does the parallel pass and returns a stream state,
and ``final_state`` computes only the last states with ``T - 1`` combines. All of them run the
one loop :meth:`PRLSTM._run` over the layers, through the chosen backend's scan
(:mod:`prlstm.ops.api`).
"""

from __future__ import annotations

import dataclasses
import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.cells import CombineCell
from prlstm.config import PRLSTMConfig
from prlstm.ops import get_scan, stacks, triton_backend
from prlstm.ops.common import State
from prlstm.ops.stacks import Carry
from prlstm.state import PRState, StreamState
from prlstm.stream import StreamMethods

__all__ = ["PRLSTM", "PRState", "StreamState"]

_layer_ids = itertools.count()


def _setting(name: str, settable: bool) -> property:
    """A layer attribute read from (and, if ``settable``, validated into) its config."""

    def get(self: PRLSTM) -> object:
        return getattr(self.config, name)

    def put(self: PRLSTM, value: object) -> None:
        self.config = dataclasses.replace(self.config, **{name: value})

    return property(get, put if settable else None, doc=f"``config.{name}``.")


class PRLSTM(StreamMethods, nn.Module):
    """Parallel Recursive LSTM layer.

    Args:
        input_size: features per token, D.
        hidden_size: state size, H.
        cell: ``"lstm"`` (binary Tree-LSTM merge), ``"rnn"`` (ReLU merge) or ``"gru"``.
        refinements: R single-input cells after every merge (paper default 1; gru needs 0).
        num_layers: stacked PR layers; layer ``l > 0`` reads layer ``l - 1``'s hidden outputs.
        schedule: ``"tree"`` (the model) or ``"sequential"`` (the ablation of
            docs/model.md#the-sequential-schedule).
        bias: linear maps with biases.
        dropout: dropout on the outputs of every layer but the last (training only).
        batch_first: inputs are ``(B, T, D)`` if True else ``(T, B, D)``; outputs follow.
        backend: ``"auto"``, ``"reference"``, ``"levelwise"``, ``"chunked"``, ``"streaming"``
            or ``"triton"`` (fused GPU kernels; CPU only under ``TRITON_INTERPRET=1``); every
            path (forward, prefill, continuation, final_state, step) runs on it. ``"auto"``
            is ``"triton"`` for gated lstm cells on CUDA once the kernels pass a one-time
            check on that device and dtype (:mod:`prlstm.ops.triton.check`), else
            ``"levelwise"``.
        device: of the parameters.
        dtype: of the parameters.
        merge: ``"gated"`` (the model), ``"sum"`` or ``"concat"``: the merge ablations of
            docs/model.md#merge-variants (lstm and rnn cells; not on ``"triton"``).

    Every argument after ``hidden_size`` is keyword-only. The rules live in
    :class:`~prlstm.config.PRLSTMConfig` (``layer.config``); ``schedule``, ``dropout``,
    ``batch_first`` and ``backend`` may be reassigned (validated again).

    Inputs: ``input, hx, lengths``
        * **input**: ``(B, T, D)`` (``batch_first``) or ``(T, B, D)``.
        * **hx**: optional; a :class:`StreamState` continues that stream (the outputs of
          ``prefill(input, state=hx)``), a :class:`PRState` ``(num_layers, B, H)`` is one
          prefix state per layer that every output folds in front (see :meth:`forward`).
        * **lengths**: optional ``(B,)`` true lengths of right-padded sequences.

    Outputs: ``output, state``
        * **output**: ``(B, T, H)`` (or ``(T, B, H)``), h at every position.
        * **state**: :class:`PRState`, ``h`` and ``c`` ``(num_layers, B, H)`` (``c`` is None
          for rnn and gru).

    Example::

        layer = PRLSTM(16, 64)
        out, (h, c) = layer(torch.randn(8, 100, 16))   # out: (8, 100, 64), h: (1, 8, 64)
    """

    input_size = _setting("input_size", False)
    hidden_size = _setting("hidden_size", False)
    cell = _setting("cell", False)
    refinements = _setting("refinements", False)
    num_layers = _setting("num_layers", False)
    bias = _setting("bias", False)
    merge = _setting("merge", False)
    schedule = _setting("schedule", True)
    dropout = _setting("dropout", True)
    batch_first = _setting("batch_first", True)
    backend = _setting("backend", True)

    def __init__(self, input_size: int, hidden_size: int, *, cell: str = "lstm",
                 refinements: int = 1, num_layers: int = 1, schedule: str = "tree",
                 bias: bool = True, dropout: float = 0.0, batch_first: bool = True,
                 backend: str = "auto", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, merge: str = "gated") -> None:
        super().__init__()
        self.config = PRLSTMConfig(input_size, hidden_size, cell=cell, refinements=refinements,
                                   num_layers=num_layers, schedule=schedule, bias=bias,
                                   dropout=dropout, batch_first=batch_first, backend=backend,
                                   merge=merge)
        self.layers = nn.ModuleList(
            CombineCell(input_size if i == 0 else hidden_size, hidden_size, cell, refinements,
                        bias, device=device, dtype=dtype, merge=merge)
            for i in range(num_layers)
        )
        self._id = next(_layer_ids)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, cell={self.cell!r}, "
                f"refinements={self.refinements}, num_layers={self.num_layers}, "
                f"schedule={self.schedule!r}, merge={self.merge!r}, backend={self.backend!r}")

    # ----------------------------------------------------------------------------- checks
    def _check_tensor(self, name: str, x: object, ndim: int) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != ndim:
            want = ("(B, T, D)" if self.batch_first else "(T, B, D)") if ndim == 3 else "(B, D)"
            raise ValueError(f"{name} must have {ndim} dims {want}, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name} must have input_size={self.input_size} features in its "
                             f"last dim, got shape {tuple(x.shape)}")
        p = self.layers[0].leaf.weight
        if x.device != p.device:
            raise ValueError(f"{name} is on {x.device} but the layer's parameters are on "
                             f"{p.device}; move one of them")
        if x.dtype != p.dtype and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(f"{name} has dtype {x.dtype} but the layer's parameters are "
                            f"{p.dtype}; cast one of them (or use autocast)")
        return x

    def _batched(self, x: object, name: str) -> Tensor:
        """``x`` checked and batch-first ``(B, T, D)``."""
        x = self._check_tensor(name, x, 3)
        x = x if self.batch_first else x.transpose(0, 1)
        if x.shape[1] == 0:
            raise ValueError(f"{name} has sequence length T = 0; PR-LSTM needs T >= 1")
        if x.shape[0] == 0:
            raise ValueError(f"{name} has batch size 0")
        return x

    @staticmethod
    def _check_lengths(lengths: object, B: int, T: int, device: torch.device) -> Tensor | None:
        """``lengths`` as ``(B,)`` int64 on ``device``; its values are checked outside
        ``torch.compile`` only (reading them needs the host)."""
        if lengths is None:
            return None
        if isinstance(lengths, (list, tuple)):
            lengths = torch.tensor(lengths)
        if not isinstance(lengths, Tensor):
            raise TypeError(f"lengths must be a 1-D int tensor or list, got "
                            f"{type(lengths).__name__}")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},) (one per sequence), got "
                             f"{tuple(lengths.shape)}")
        if not torch.compiler.is_compiling():
            lo, hi = int(lengths.min()), int(lengths.max())
            if lo < 1 or hi > T:
                raise ValueError(f"lengths must lie in [1, T={T}], got values in [{lo}, {hi}]")
        return lengths.to(device=device, dtype=torch.long)

    def _check_stream(self, state: object, B: int, name: str = "input") -> StreamState:
        if not isinstance(state, StreamState):
            raise TypeError(f"state must be a StreamState from init_stream/prefill/step, got "
                            f"{type(state).__name__}")
        if state.layer_id != self._id:
            raise ValueError("state belongs to another PRLSTM layer; create it with this "
                             "layer's init_stream() or prefill()")
        if state.batch_size != B:
            raise ValueError(f"state was made for batch_size={state.batch_size} but {name} has "
                             f"batch size {B}")
        return state

    def _carries(self, hx: object, B: int, T: int) -> tuple[Carry, ...] | None:
        """Per-layer stacks to continue from ``hx`` (``None``: start afresh)."""
        if hx is None or isinstance(hx, StreamState):
            return None if hx is None else self._check_stream(hx, B).stacks
        if not isinstance(hx, tuple) or len(hx) != 2:
            raise TypeError(f"hx must be a StreamState or a PRState (h, c), got "
                            f"{type(hx).__name__}")
        h, c = hx
        want = (self.num_layers, B, self.hidden_size)
        for name, t in (("hx.h", h), ("hx.c", c)) if self.cell == "lstm" else (("hx.h", h),):
            if not isinstance(t, Tensor) or tuple(t.shape) != want:
                raise ValueError(f"{name} must be a tensor of shape {want}, got "
                                 f"{tuple(t.shape) if isinstance(t, Tensor) else t!r}")
        per_layer = zip(h, c, strict=True) if self.cell == "lstm" else ((x,) for x in h)
        return tuple(stacks.prefix_stack(tuple(s), T) for s in per_layer)

    # --------------------------------------------------------------------------- the loop
    def _scan_backend(self, x: Tensor) -> str:
        """The backend name for ``x``: ``auto`` resolved (see the class docstring)."""
        if self.backend != "auto":
            return self.backend
        if (x.is_cuda and self.cell == "lstm" and self.merge == "gated"
                and triton_backend.available()):
            dtype = triton_backend.gemm_dtype(x, self.layers[0].leaf.weight)
            if triton_backend.verified(x.device, dtype):
                return "triton"
        return "levelwise"

    def _combine(self, cell: CombineCell, backend: str):
        """The combine the scans call: fused Triton kernels for the triton backend."""
        if backend != "triton":
            return cell.combine
        if not triton_backend.available():
            raise RuntimeError("backend='triton' needs the triton package and a CUDA device "
                               "(or TRITON_INTERPRET=1 for the CPU interpreter)")
        return triton_backend.make_combine(cell)

    def _run(self, x: Tensor, lens: Tensor | None, carries: tuple[Carry, ...] | None,
             return_state: bool, final_only: bool = False
             ) -> tuple[Tensor | None, list[State], list[Carry | None]]:
        """The one loop over the layers: ``x`` ``(B, T, D)`` -> last layer's h ``(B, T, H)``
        (zero past ``lens``; ``None`` with ``final_only``), each layer's final state ``(B, H)``
        and (``return_state``) each layer's stream stack."""
        backend = self._scan_backend(x)
        scan = get_scan(backend)
        inp, finals, carry_out = x, [], []
        out: State | None = None
        for i, cell in enumerate(self.layers):
            only_final = final_only and i == self.num_layers - 1
            out, carry = scan(self._combine(cell, backend), cell.leaf_state(inp),
                              schedule=self.schedule, lengths=lens,
                              state=None if carries is None else carries[i],
                              return_outputs=not only_final,
                              return_state=return_state or only_final)
            finals.append(stacks.last(carry) if out is None else _last(out, lens))
            carry_out.append(carry)
            if out is not None and i < self.num_layers - 1:
                inp = self._between_layers(out[0])
        return None if out is None else _masked(out[0], lens), finals, carry_out

    def _between_layers(self, h: Tensor) -> Tensor:
        if self.dropout and self.training:
            return F.dropout(h, self.dropout, training=True)
        return h

    def _time_major(self, h: Tensor) -> Tensor:
        return h if self.batch_first else h.transpose(0, 1)

    # ------------------------------------------------------------------------ public paths
    def forward(self, input: Tensor, hx: StreamState | PRState | None = None,
                lengths: Tensor | list[int] | None = None) -> tuple[Tensor, PRState]:
        """Run the parallel scan.

        Args:
            input: ``(B, T, D)`` (or ``(T, B, D)`` when not ``batch_first``).
            hx: optional. A :class:`StreamState` continues that stream: the outputs equal
                ``prefill(input, state=hx)``'s and the returned state holds the final states
                after it. A :class:`PRState` (or a tuple ``(h, c)``; ``c`` None for rnn and
                gru) of shape ``(num_layers, B, H)`` acts as the root of one block before
                the input, like ``chunked``'s carry: ``out_t = ((hx ⊕ R_1) ⊕ R_2) ⊕ …`` over
                the block roots ``R_i`` of ``t + 1``. Not combinable with ``lengths``.
            lengths: optional ``(B,)`` true lengths of right-padded sequences. Valid outputs
                never depend on padding; padded output positions are set to zero and the
                returned state is each sequence's own final state.

        Returns:
            ``(output, state)``: ``output`` ``(B, T, H)`` holds h at every position;
            ``state`` is :class:`PRState` with ``h``/``c`` of shape ``(num_layers, B, H)``.
        """
        x = self._batched(input, "input")
        B, T, _ = x.shape
        if hx is not None and lengths is not None:
            raise ValueError("forward: pass lengths (a new right-padded batch) or hx (a state "
                             "to continue), not both")
        lens = self._check_lengths(lengths, B, T, x.device)
        h, finals, _ = self._run(x, lens, self._carries(hx, B, T), return_state=False)
        assert h is not None
        return self._time_major(h), _pack(finals)

    def final_state(self, x: Tensor, lengths: Tensor | list[int] | None = None) -> PRState:
        """Only the final states, shaped as :meth:`forward`'s.

        The last layer folds its backend's block roots of each length: ``T - 1`` combines
        per sequence instead of about ``2T`` (the ``streaming`` backend and the
        ``sequential`` schedule compute the full pass). Lower layers run in full, since the
        next layer reads all their outputs.
        """
        x = self._batched(x, "x")
        lens = self._check_lengths(lengths, x.shape[0], x.shape[1], x.device)
        if lens is not None:
            x = x[:, : int(lens.max())]  # the padding after the longest row is never read
        _, finals, _ = self._run(x, lens, None, return_state=False, final_only=True)
        return _pack(finals)



def _last(out: State, lens: Tensor | None) -> State:
    """Final state per sequence ``(B, H)`` from all prefix states ``(B, T, H)``."""
    if lens is None:
        return tuple(s[:, -1] for s in out)
    rows = torch.arange(lens.shape[0], device=lens.device)
    return tuple(s[rows, lens - 1] for s in out)


def _masked(h: Tensor, lens: Tensor | None) -> Tensor:
    """``h`` ``(B, T, H)`` with the positions at and after ``lens`` set to zero."""
    if lens is None:
        return h
    valid = torch.arange(h.shape[1], device=h.device)[None, :] < lens[:, None]  # (B, T)
    return torch.where(valid[..., None], h, torch.zeros((), dtype=h.dtype, device=h.device))


def _pack(finals: list[State]) -> PRState:
    h = torch.stack([f[0] for f in finals])
    c = torch.stack([f[1] for f in finals]) if len(finals[0]) > 1 else None
    return PRState(h, c)
