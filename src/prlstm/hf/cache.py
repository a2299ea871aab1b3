"""``PRLSTMCache``: the generation cache, a thin mutable wrapper of the layer's stream state."""

from __future__ import annotations

from torch import Tensor

from prlstm.layer import StreamState


class PRLSTMCache:
    """What ``generate`` carries between forwards: the exact stream state after the tokens fed.

    ``seen`` counts the *columns* of ``input_ids`` consumed (left padding included), which is
    what ``generate`` compares with the sequence it holds; each row's own token count is
    ``state.lengths``. Forwards never modify a cache: they return a new one, so a cache can be
    continued twice (e.g. two different follow-ups to one conversation).
    """

    is_compileable = False
    is_croppable = False
    is_linear = (False,)  # generate slices inputs by get_seq_length() on continuation

    def __init__(self, state: StreamState, seen: int) -> None:
        if not isinstance(state, StreamState):
            raise TypeError(f"state must be a prlstm StreamState, got {type(state).__name__}")
        self.state, self.seen = state, seen

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Columns of ``input_ids`` this cache has consumed."""
        return self.seen

    @property
    def batch_size(self) -> int:
        return self.state.batch_size

    def reorder_cache(self, beam_idx: Tensor) -> None:
        """Keep rows ``beam_idx`` (beam search), in place."""
        self.state = self.state.select(beam_idx)

    def __repr__(self) -> str:
        return (f"PRLSTMCache(batch_size={self.batch_size}, seen={self.seen}, "
                f"ragged={self.state.ragged})")
