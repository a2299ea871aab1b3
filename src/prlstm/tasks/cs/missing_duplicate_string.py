"""missing_duplicate_string: recover the hidden symbol of s ‖ s.

Defined in docs/benchmark.md#missing_duplicate_string.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, single_label

PLACEHOLDER, PADDING = 2, 3


class MissingDuplicateString(Task):
    """Input: s ‖ s (|s| = ⌊L/2⌋) with one symbol replaced by ``?`` (id 2), plus one padding
    ``_`` (id 3) when L is odd; label: the hidden bit, read from its copy in the other half.

    L = 1 is degenerate: the input is ``[1]`` and the label 1.
    """

    name = "missing_duplicate_string"
    level = "cs"
    description = "s+s with one bit hidden as ?, _ pads odd lengths; label = the hidden bit"
    single_output = True

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1", "?", "_"), output_symbols=("0", "1"))

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        if length == 1:
            return np.ones((batch_size, 1), dtype=np.int64)
        h = length // 2
        half = rng.integers(0, 2, (batch_size, h))  # (B, h)
        hidden = rng.integers(0, 2 * h, batch_size)  # (B,)
        x = np.full((batch_size, length), PADDING, dtype=np.int64)  # (B, T)
        x[:, :h] = half
        x[:, h : 2 * h] = half
        x[np.arange(batch_size), hidden] = PLACEHOLDER
        return x

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, t = inputs.shape
        if t == 1:
            if (inputs != 1).any():
                raise ValueError("inputs of missing_duplicate_string with length T = 1 must be "
                                 "[1] (the degenerate case)")
            return single_label(np.ones(b, dtype=np.int64))
        h = t // 2
        body = inputs[:, : 2 * h]  # (B, 2h)
        is_hidden = body == PLACEHOLDER  # (B, 2h)
        bad = (is_hidden.sum(axis=1) != 1) | (body == PADDING).any(axis=1)  # (B,)
        if t % 2 == 1:
            bad |= inputs[:, -1] != PADDING
        if bad.any():
            raise self._row_error(int(np.argmax(bad)),
                                  "must hold exactly one '?' (id 2) in its first 2*floor(T/2) "
                                  "tokens, no '_' (id 3) there, and one trailing '_' iff T is odd")
        hidden = is_hidden.argmax(axis=1)  # (B,)
        partner = np.where(hidden < h, hidden + h, hidden - h)  # (B,)
        return single_label(body[np.arange(b), partner])  # (B, 1)
