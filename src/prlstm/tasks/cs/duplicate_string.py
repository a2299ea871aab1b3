"""duplicate_string: output the input twice (docs/benchmark.md#duplicate_string)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.symbols import SymbolStringTask


class DuplicateString(SymbolStringTask):
    """Target = x ‖ x (T_out = 2T)."""

    name = "duplicate_string"
    level = "cs"
    description = "symbols; target = the input written twice"
    default_vocab_size = 2
    output_factor = 2
    output_length_text = "2T"

    def rearrange(self, inputs: np.ndarray) -> np.ndarray:
        return np.concatenate((inputs, inputs), axis=1)
