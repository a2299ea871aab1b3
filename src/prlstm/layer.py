"""``PRLSTM``: the Parallel Recursive LSTM layer with an ``nn.LSTM``-like API.

Each token is mapped to a state on its own (the leaf map); a learned combine merges two states;
merges follow the fixed tree schedule of docs/model.md#the-block-schedule, so every prefix state
comes out in ``O(log T)`` rounds. ``forward`` runs the parallel scan, ``step`` streams one token
at a time with identical outputs, ``prefill`` does the parallel pass and returns a stream state,
and ``final_state`` computes only the last states with ``T - 1`` combines.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.cells import CELLS, MERGES, CombineCell, State
from prlstm.ops import BACKENDS, SCHEDULES, get_scan, levelwise, triton_backend
from prlstm.ops import streaming as stream_ops
from prlstm.schedule import stack_blocks

_layer_ids = itertools.count()


class PRState(NamedTuple):
    """Final states, shaped like ``nn.LSTM``'s: ``(num_layers, B, H)`` each.

    ``c`` is ``None`` for the memory-less ``rnn`` and ``gru`` cells.
    """

    h: Tensor
    c: Tensor | None


@dataclass(frozen=True)
class StreamState:
    """The state of a token-by-token stream: one binary-counter stack per layer.

    Immutable: ``step`` returns a new one, so an old state can be stepped again (e.g. to
    branch a beam). ``t`` is the number of tokens consumed so far. Rows may sit at different
    positions (a *ragged* stream, from ``prefill(x, lengths=...)``): then ``positions`` is the
    ``(B,)`` count per row, ``t`` the largest of them, and ``stacks`` hold
    :class:`~prlstm.ops.streaming.RaggedStack` slots; ``positions`` is ``None`` when every
    row has consumed ``t`` tokens. :attr:`lengths` gives the per-row counts in both cases.
    """

    layer_id: int
    batch_size: int
    t: int
    stacks: tuple[stream_ops.Stack | stream_ops.RaggedStack, ...]
    positions: Tensor | None = None

    @property
    def ragged(self) -> bool:
        """Whether rows sit at different positions."""
        return self.positions is not None

    @property
    def lengths(self) -> Tensor:
        """Tokens consumed per row, ``(B,)`` int64 (on the state's device)."""
        if self.positions is not None:
            return self.positions
        device = _stack_device(self.stacks)
        return torch.full((self.batch_size,), self.t, dtype=torch.long, device=device)

    def select(self, index: Tensor | list[int] | list[bool]) -> StreamState:
        """The stream of rows ``index`` (any order, repeats allowed): e.g. reorder beams.

        ``index`` holds integer row numbers, or is a bool mask of ``batch_size`` entries
        (the rows where it is true, in order); floats and masks of another length are refused.
        """
        index = _row_index(index, self.batch_size, _stack_device(self.stacks))
        if int(index.min()) < 0 or int(index.max()) >= self.batch_size:
            raise ValueError(f"index must hold rows in [0, {self.batch_size}), got values in "
                             f"[{int(index.min())}, {int(index.max())}]")

        def pick(st: State) -> State:
            return tuple(s.index_select(0, index) for s in st)

        if self.positions is not None:
            stacks = tuple(stream_ops.RaggedStack(pick(r.roots), pick(r.folds))
                           for r in self.stacks)
            return StreamState(self.layer_id, index.numel(), self.t, stacks,
                               self.positions.index_select(0, index))
        stacks = tuple(tuple(stream_ops.Entry(e.size, pick(e.root), pick(e.fold)) for e in st)
                       for st in self.stacks)
        return StreamState(self.layer_id, index.numel(), self.t, stacks)


def _row_index(index: object, batch_size: int, device: torch.device | None) -> Tensor:
    """``index`` as a non-empty 1-D int64 tensor of row numbers (a bool mask of
    ``batch_size`` entries becomes the numbers of its true rows)."""
    try:
        rows = torch.as_tensor(index)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"index must be integer row numbers or a bool mask, got "
                         f"{type(index).__name__} ({err})") from None
    if rows.dim() != 1 or rows.numel() == 0:
        raise ValueError(f"index must be a non-empty 1-D list of rows, got shape "
                         f"{tuple(rows.shape)}")
    if rows.dtype == torch.bool:
        if rows.numel() != batch_size:
            raise ValueError(f"a bool mask index must have batch_size={batch_size} entries, got "
                             f"{rows.numel()}")
        rows = rows.nonzero().squeeze(1)
        if rows.numel() == 0:
            raise ValueError("the bool mask index selects no row; expected at least one true")
    elif rows.is_floating_point() or rows.is_complex():
        raise ValueError(f"index must hold integer row numbers or a bool mask, got dtype "
                         f"{rows.dtype}")
    return rows.to(dtype=torch.long, device=device)


def _stack_device(stacks: tuple) -> torch.device | None:
    for st in stacks:
        if isinstance(st, stream_ops.RaggedStack):
            return st.roots[0].device
        if st:
            return st[0].root[0].device
    return None


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class PRLSTM(nn.Module):
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
        batch_first: ``x`` is ``(B, T, D)`` if True else ``(T, B, D)``; outputs follow.
        backend: ``"auto"`` (``"triton"`` for gated lstm cells on CUDA with triton installed,
            else ``"levelwise"``), ``"reference"``, ``"levelwise"``, ``"chunked"`` (the
            exact three-phase chunked form), ``"streaming"`` or
            ``"triton"`` (fused GPU kernels; CPU only under ``TRITON_INTERPRET=1``).
        merge: ``"gated"`` (the model), ``"sum"`` or ``"concat"``: the merge ablations of
            docs/model.md#merge-variants (lstm and rnn cells; gru is gated only; not on
            ``"triton"``).

    Example::

        layer = PRLSTM(16, 64)
        out, (h, c) = layer(torch.randn(8, 100, 16))   # out: (8, 100, 64), h: (1, 8, 64)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        cell: str = "lstm",
        refinements: int = 1,
        num_layers: int = 1,
        schedule: str = "tree",
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        merge: str = "gated",
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(refinements, int) or isinstance(refinements, bool) or refinements < 0:
            raise ValueError(f"refinements must be an int >= 0, got {refinements!r}")
        _check_choice("cell", cell, CELLS)
        _check_choice("schedule", schedule, SCHEDULES)
        _check_choice("backend", backend, ("auto", *BACKENDS))
        _check_choice("merge", merge, MERGES)
        if cell == "gru" and merge != "gated":
            raise ValueError(f"cell='gru' supports merge='gated' only, got merge={merge!r}")
        if backend == "triton" and merge != "gated":
            raise ValueError(f"backend='triton' has fused kernels for merge='gated' only, got "
                             f"merge={merge!r}; use backend='auto' or 'levelwise'")
        if cell == "gru" and refinements > 0:
            raise ValueError(f"cell='gru' has no refinement cell: refinements must be 0, "
                             f"got {refinements}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell, self.refinements, self.num_layers = cell, refinements, num_layers
        self.schedule, self.dropout, self.batch_first = schedule, float(dropout), batch_first
        self.backend, self.bias, self.merge = backend, bias, merge
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
    def _param(self) -> Tensor:
        return self.layers[0].leaf.weight

    def _check_tensor(self, name: str, x: object, ndim: int) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != ndim:
            want = "(B, T, D)" if self.batch_first else "(T, B, D)"
            want = want if ndim == 3 else "(B, D)"
            raise ValueError(f"{name} must have {ndim} dims {want}, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{name} must have input_size={self.input_size} features in its "
                             f"last dim, got shape {tuple(x.shape)}")
        p = self._param()
        if x.device != p.device:
            raise ValueError(f"{name} is on {x.device} but the layer's parameters are on "
                             f"{p.device}; move one of them")
        if x.dtype != p.dtype and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(f"{name} has dtype {x.dtype} but the layer's parameters are "
                            f"{p.dtype}; cast one of them (or use autocast)")
        return x

    def _batched(self, x: Tensor, name: str = "x") -> Tensor:
        x = self._check_tensor(name, x, 3)
        x = x if self.batch_first else x.transpose(0, 1)
        if x.shape[1] == 0:
            raise ValueError(f"{name} has sequence length T = 0; PR-LSTM needs T >= 1")
        if x.shape[0] == 0:
            raise ValueError(f"{name} has batch size 0")
        return x

    @staticmethod
    def _check_lengths(lengths: object, B: int, T: int, device: torch.device) -> Tensor:
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
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got values in [{lo}, {hi}]")
        return lengths.to(device=device, dtype=torch.long)

    # ----------------------------------------------------------------------------- forward
    def _scan_backend(self, x: Tensor | None = None) -> str:
        if self.backend != "auto":
            return self.backend
        use_triton = (x is not None and x.is_cuda and self.cell == "lstm"
                      and self.merge == "gated" and triton_backend.available())
        return "triton" if use_triton else "levelwise"

    def _combine(self, cell: CombineCell, backend: str):
        """The combine the scans call: fused Triton kernels for the triton backend."""
        if backend != "triton":
            return cell.combine
        if not triton_backend.available():
            raise RuntimeError("backend='triton' needs the triton package and a CUDA device "
                               "(or TRITON_INTERPRET=1 for the CPU interpreter)")
        return triton_backend.make_combine(cell)

    def _between_layers(self, h: Tensor, i: int) -> Tensor:
        if self.dropout and self.training and i < self.num_layers - 1:
            return F.dropout(h, self.dropout, training=True)
        return h

    def forward(self, x: Tensor, lengths: Tensor | list[int] | None = None
                ) -> tuple[Tensor, PRState]:
        """Run the parallel scan.

        Args:
            x: ``(B, T, D)`` (or ``(T, B, D)`` when not ``batch_first``).
            lengths: optional ``(B,)`` true lengths of right-padded sequences. Valid outputs
                never depend on padding; padded output positions are set to zero and the
                returned state is each sequence's own final state.

        Returns:
            ``(output, state)``: ``output`` ``(B, T, H)`` holds h at every position;
            ``state`` is :class:`PRState` with ``h``/``c`` of shape ``(num_layers, B, H)``.
        """
        x = self._batched(x)
        B, T, _ = x.shape
        lens = None if lengths is None else self._check_lengths(lengths, B, T, x.device)
        backend = self._scan_backend(x)
        scan = get_scan(backend)
        inp, finals = x, []
        for i, cell in enumerate(self.layers):
            combine = self._combine(cell, backend)
            out = scan(combine, cell.leaf_state(inp), self.schedule)  # (B, T, H) each
            finals.append(_last(out, lens))
            inp = self._between_layers(out[0], i)
        h = out[0]
        if lens is not None:
            valid = torch.arange(T, device=x.device)[None, :] < lens[:, None]  # (B, T)
            h = torch.where(valid[..., None], h, torch.zeros((), dtype=h.dtype, device=h.device))
        return self._time_major(h), _pack(finals)

    def final_state(self, x: Tensor, lengths: Tensor | list[int] | None = None) -> PRState:
        """Only the final states, shaped as :meth:`forward`'s.

        The last layer uses the up-sweep roots plus a fold of each length's blocks: ``T - 1``
        combines per sequence instead of about ``2T``. Lower layers run in full, since the
        next layer reads all their outputs.
        """
        x = self._batched(x)
        B, T, _ = x.shape
        lens = self._check_lengths(lengths, B, T, x.device) if lengths is not None else None
        backend = self._scan_backend(x)
        scan = get_scan(backend)
        inp, finals = x, []
        for i, cell in enumerate(self.layers):
            combine = self._combine(cell, backend)
            leaves = cell.leaf_state(inp)
            if i < self.num_layers - 1:
                out = scan(combine, leaves, self.schedule)
                finals.append(_last(out, lens))
                inp = self._between_layers(out[0], i)
            elif self.schedule == "sequential":
                finals.append(_last(scan(combine, leaves, "sequential"), lens))
            else:
                n = T if lens is None else int(lens.max())
                roots = levelwise.upsweep(combine, tuple(s[:, :n] for s in leaves))
                full = torch.full((B,), n, dtype=torch.long, device=x.device)
                finals.append(levelwise.fold_final(combine, roots,
                                                   full if lens is None else lens))
        return _pack(finals)

    def _time_major(self, h: Tensor) -> Tensor:
        return h if self.batch_first else h.transpose(0, 1)

    # ---------------------------------------------------------------------------- streaming
    def init_stream(self, batch_size: int) -> StreamState:
        """An empty stream for ``batch_size`` sequences (feed it to :meth:`step`)."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return StreamState(self._id, batch_size, 0, tuple(() for _ in self.layers))

    def _check_stream(self, state: object, B: int) -> StreamState:
        if not isinstance(state, StreamState):
            raise TypeError(f"state must be a StreamState from init_stream/prefill/step, got "
                            f"{type(state).__name__}")
        if state.layer_id != self._id:
            raise ValueError("state belongs to another PRLSTM layer; create it with this "
                             "layer's init_stream() or prefill()")
        if state.batch_size != B:
            raise ValueError(f"state was made for batch_size={state.batch_size} but x_t has "
                             f"batch size {B}")
        return state

    def step(self, x_t: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Consume one token per sequence: ``x_t`` ``(B, D)`` -> ``(h_t (B, H), new state)``.

        Outputs are identical to :meth:`forward` at the same position. Amortised ~2 combines
        per token; the state holds ``popcount(t + 1)`` stack entries per layer. For a ragged
        state every row advances by one token at its own position, with at most
        ``log2(t) + 2`` batched combine calls per layer for the whole batch.
        """
        x_t = self._check_tensor("x_t", x_t, 2)
        state = self._check_stream(state, x_t.shape[0])
        seq = self.schedule == "sequential"
        if state.positions is not None:
            n = state.positions.to(x_t.device)
            push_r = stream_ops.push_ragged_sequential if seq else stream_ops.push_ragged
            inp, stacks = x_t, []
            for i, (cell, stack) in enumerate(zip(self.layers, state.stacks, strict=True)):
                out, new_stack = push_r(cell.combine, stack, n, cell.leaf_state(inp))
                stacks.append(new_stack)
                inp = self._between_layers(out[0], i)
            return out[0], StreamState(self._id, state.batch_size, state.t + 1, tuple(stacks),
                                       n + 1)
        push = stream_ops.push_sequential if seq else stream_ops.push
        inp, stacks = x_t, []
        for i, (cell, stack) in enumerate(zip(self.layers, state.stacks, strict=True)):
            out, new_stack = push(cell.combine, stack, cell.leaf_state(inp))
            stacks.append(new_stack)
            inp = self._between_layers(out[0], i)
        return out[0], StreamState(self._id, state.batch_size, state.t + 1, tuple(stacks))

    def prefill(self, x: Tensor, lengths: Tensor | list[int] | None = None,
                state: StreamState | None = None) -> tuple[Tensor, StreamState]:
        """Parallel pass over a prompt that also returns the stream state after it.

        ``step`` then continues exactly as if the whole prompt had been streamed: the stack
        is read off the up-sweep roots (the blocks of ``T``) and the outputs at block ends.

        Args:
            x: ``(B, T, D)`` (or ``(T, B, D)`` when not ``batch_first``).
            lengths: optional ``(B,)`` true lengths of a right-padded batch: row b of the
                returned (ragged) state has consumed ``lengths[b]`` tokens; padded output
                positions are zero, as in :meth:`forward`.
            state: optional stream to continue (chunked prefill): the outputs and state are
                the numbers ``T`` calls of :meth:`step` would give. When all rows share one
                position this runs in ``2·log2(t + T)`` batched rounds; a ragged state or the
                ``sequential`` schedule falls back to one :meth:`step` per token.

        Returns:
            ``(output (B, T, H), StreamState)``.
        """
        x = self._batched(x)
        B, T, _ = x.shape
        if state is not None:
            if lengths is not None:
                raise ValueError("prefill: pass lengths (a new right-padded batch) or state "
                                 "(continue a stream), not both")
            return self._continue(x, self._check_stream(state, B))
        lens = None if lengths is None else self._check_lengths(lengths, B, T, x.device)
        T_pad = T
        if lens is not None and bool((lens == lens[0]).all()):  # not ragged: a plain stream
            x, T, lens = x[:, : int(lens[0])], int(lens[0]), None
        inp, stacks = x, []
        for i, cell in enumerate(self.layers):
            leaves = cell.leaf_state(inp)
            if self.schedule == "sequential":
                out = levelwise.scan(cell.combine, leaves, "sequential")
                if lens is not None:
                    stacks.append(stream_ops.ragged_from_folds(out, lens))
                else:
                    last = tuple(s[:, -1] for s in out)
                    stacks.append((stream_ops.Entry(T, last, last),))
            else:
                roots = levelwise.upsweep(cell.combine, leaves)
                out = levelwise.downsweep(cell.combine, roots)
                if lens is not None:
                    stacks.append(stream_ops.ragged_from_sweep(roots, out, lens))
                else:
                    stacks.append(tuple(_entry(roots, out, start, size)
                                        for start, size in stack_blocks(T)))
            inp = self._between_layers(out[0], i)
        h = F.pad(out[0], (0, 0, 0, T_pad - T)) if T_pad > T else out[0]  # zeros after L
        if lens is None:
            return self._time_major(h), StreamState(self._id, B, T, tuple(stacks))
        valid = torch.arange(h.shape[1], device=x.device)[None, :] < lens[:, None]  # (B, T)
        h = torch.where(valid[..., None], h, torch.zeros((), dtype=h.dtype, device=h.device))
        return self._time_major(h), StreamState(self._id, B, int(lens.max()), tuple(stacks),
                                                lens)

    def _continue(self, x: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Chunked prefill: ``x`` ``(B, T, D)`` appended to ``state``'s stream."""
        if state.positions is not None or self.schedule == "sequential" or state.t == 0:
            if state.t == 0 and state.positions is None:
                return self.prefill(x if self.batch_first else x.transpose(0, 1))
            outs = []
            for t in range(x.shape[1]):
                y, state = self.step(x[:, t], state)
                outs.append(y)
            return self._time_major(torch.stack(outs, dim=1)), state
        inp, stacks = x, []
        for i, (cell, stack) in enumerate(zip(self.layers, state.stacks, strict=True)):
            out, new_stack = stream_ops.extend(cell.combine, stack, state.t,
                                               cell.leaf_state(inp))
            stacks.append(new_stack)
            inp = self._between_layers(out[0], i)
        return (self._time_major(out[0]),
                StreamState(self._id, state.batch_size, state.t + x.shape[1], tuple(stacks)))


def _entry(roots: list[State], out: State, start: int, size: int) -> stream_ops.Entry:
    """The stack entry of the aligned block ``[start, start + size)`` after a parallel pass."""
    level = roots[size.bit_length() - 1]
    root = tuple(r[:, start // size] for r in level)
    return stream_ops.Entry(size, root, tuple(s[:, start + size - 1] for s in out))


def _last(out: State, lens: Tensor | None) -> State:
    """Final state per sequence ``(B, H)`` from all prefix states ``(B, T, H)``."""
    if lens is None:
        return tuple(s[:, -1] for s in out)
    rows = torch.arange(lens.shape[0], device=lens.device)
    return tuple(s[rows, lens - 1] for s in out)


def _pack(finals: list[State]) -> PRState:
    h = torch.stack([f[0] for f in finals])
    c = torch.stack([f[1] for f in finals]) if len(finals[0]) > 1 else None
    return PRState(h, c)
