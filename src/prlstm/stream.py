"""The streaming half of :class:`prlstm.layer.PRLSTM`: ``init_stream``, ``step``, ``prefill``.

All three run the layer's one loop over its layers (``PRLSTM._run``) with the stream stacks
of :class:`~prlstm.state.StreamState`, through the layer's backend: ``step`` is the ``T = 1``
case of a continuation, ``prefill(x, state=s)`` the general one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from prlstm.ops.stacks import Carry, RaggedStack
from prlstm.state import StreamState

if TYPE_CHECKING:
    from prlstm.layer import PRLSTM

__all__ = ["StreamMethods"]


class StreamMethods:
    """Mixed into :class:`~prlstm.layer.PRLSTM`; uses its checks and its ``_run`` loop."""

    def init_stream(self: PRLSTM, batch_size: int) -> StreamState:
        """An empty stream for ``batch_size`` sequences (feed it to :meth:`step`)."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        return StreamState(self._id, batch_size, 0, tuple(() for _ in self.layers))

    def step(self: PRLSTM, x_t: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Consume one token per sequence: ``x_t`` ``(B, D)`` -> ``(h_t (B, H), new state)``.

        Outputs are identical to :meth:`forward` at the same position. Amortised ~2 combines
        per token; the state holds ``popcount(t + 1)`` stack entries per layer. For a ragged
        state every row advances by one token at its own position, with at most
        ``log2(t) + 2`` batched combine calls per layer for the whole batch.
        """
        x_t = self._check_tensor("x_t", x_t, 2)
        state = self._check_stream(state, x_t.shape[0], "x_t")
        h, _, carries = self._run(x_t[:, None], None, state.stacks, return_state=True)
        assert h is not None
        return h[:, 0], _advance(state, carries, 1)

    def prefill(self: PRLSTM, x: Tensor, lengths: Tensor | list[int] | None = None,
                state: StreamState | None = None) -> tuple[Tensor, StreamState]:
        """Parallel pass over a prompt that also returns the stream state after it.

        ``step`` then continues exactly as if the whole prompt had been streamed: each
        backend hands over its block roots and the outputs at block ends.

        Args:
            x: ``(B, T, D)`` (or ``(T, B, D)`` when not ``batch_first``).
            lengths: optional ``(B,)`` true lengths of a right-padded batch: row b of the
                returned (ragged) state has consumed ``lengths[b]`` tokens; padded output
                positions are zero, as in :meth:`forward`.
            state: optional stream to continue (chunked prefill): the outputs and state are
                the numbers ``T`` calls of :meth:`step` would give. When all rows share one
                position this runs in ``2·log2(t + T)`` batched rounds (``levelwise``,
                ``chunked``, ``triton``; ``reference`` by its definition, ``streaming`` token
                by token); a ragged state continues one token at a time on every backend.

        Returns:
            ``(output (B, T, H), StreamState)``.
        """
        x = self._batched(x, "x")
        B, T, _ = x.shape
        if state is not None:
            if lengths is not None:
                raise ValueError("prefill: pass lengths (a new right-padded batch) or state "
                                 "(continue a stream), not both")
            state = self._check_stream(state, B, "x")
            h, _, carries = self._run(x, None, state.stacks, return_state=True)
            assert h is not None
            return self._time_major(h), _advance(state, carries, T)
        lens = self._check_lengths(lengths, B, T, x.device)
        if lens is not None and bool((lens == lens[0]).all()):  # not ragged: a plain stream
            x, lens = x[:, : int(lens[0])], None
        h, _, carries = self._run(x, lens, None, return_state=True)
        assert h is not None
        h = F.pad(h, (0, 0, 0, T - h.shape[1])) if h.shape[1] < T else h  # zeros after L
        t = x.shape[1] if lens is None else int(lens.max())
        return self._time_major(h), StreamState(self._id, B, t, _carried(carries), lens)


def _carried(carries: list[Carry | None]) -> tuple[Carry, ...]:
    out = tuple(c for c in carries if c is not None)
    assert len(out) == len(carries), "every layer returns its stack"
    return out


def _advance(state: StreamState, carries: list[Carry | None], T: int) -> StreamState:
    """``state`` after ``T`` more tokens, holding the new per-layer stacks."""
    stacks = _carried(carries)
    positions = stacks[0].positions if isinstance(stacks[0], RaggedStack) else None
    return StreamState(state.layer_id, state.batch_size, state.t + T, stacks, positions)
