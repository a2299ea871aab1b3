"""``PRLSTMCache``: the exact stream state of every PR layer of the LM backbone.

What :class:`~prlstm.lm.backbone.PRLSTMModel` returns with ``use_cache`` and continues from:
the cache of both language models (``generate`` of :mod:`prlstm.hf` and of the LM demo).
Plain PyTorch; :mod:`prlstm.hf.cache` re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from prlstm.layer import StreamState


class PRLSTMCache:
    """What ``generate`` carries between forwards: each layer's stream state after the tokens fed.

    ``seen`` counts the *columns* consumed (``input_ids`` or ``inputs_embeds``, left padding
    included), which is what ``generate`` compares with the sequence it holds; each row's own
    token count is :attr:`lengths`. Forwards never modify a cache: they return a new one, so a
    cache can be continued twice (e.g. two different follow-ups to one conversation).

    Args:
        states: one :class:`~prlstm.layer.StreamState` per PR layer, bottom first.
        seen: columns consumed so far.
    """

    is_compileable = False  # generate must not auto-compile around it
    is_croppable = False  # no rollback: assisted decoding and deferred stops cannot use it
    is_linear = (False,)  # transformers 5.24 slices inputs by get_seq_length() on continuation

    def __init__(self, states: Sequence[StreamState], seen: int) -> None:
        states = tuple(states)
        if not states or not all(isinstance(s, StreamState) for s in states):
            raise TypeError("states must be a non-empty sequence of prlstm StreamState, got "
                            f"{[type(s).__name__ for s in states]}")
        if len({s.batch_size for s in states}) != 1:
            raise ValueError(f"every layer's state must hold the same rows, got batch sizes "
                             f"{[s.batch_size for s in states]}")
        if not isinstance(seen, int) or isinstance(seen, bool) or seen < 0:
            raise ValueError(f"seen must be an int >= 0, got {seen!r}")
        self.states, self.seen = states, seen

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Columns this cache has consumed (the same for every layer)."""
        return self.seen

    @property
    def batch_size(self) -> int:
        """Rows in the cache."""
        return self.states[0].batch_size

    @property
    def lengths(self) -> Tensor:
        """Tokens each row has consumed, ``(B,)`` (padding columns are not tokens)."""
        return self.states[0].lengths

    def reorder_cache(self, beam_idx: Tensor) -> None:
        """Keep rows ``beam_idx`` (beam search), in place."""
        self.states = tuple(s.select(beam_idx) for s in self.states)

    def select(self, index: Tensor | list[int]) -> PRLSTMCache:
        """A new cache of rows ``index`` (any order, repeats allowed), e.g. to expand a prompt's
        cache for ``num_return_sequences``."""
        return PRLSTMCache(tuple(s.select(index) for s in self.states), self.seen)

    def __repr__(self) -> str:
        return (f"PRLSTMCache(batch_size={self.batch_size}, layers={len(self.states)}, "
                f"seen={self.seen}, ragged={self.states[0].ragged})")
