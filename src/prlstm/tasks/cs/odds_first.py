"""odds_first: tokens at odd positions first, then those at even ones
(docs/benchmark.md#odds_first)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.symbols import SymbolStringTask


class OddsFirst(SymbolStringTask):
    """Target = x[1], x[3], … followed by x[0], x[2], … (0-based positions; T_out = T).

    This is the reference *code* order (project decision; its docstring describes the
    opposite order).
    """

    name = "odds_first"
    level = "cs"
    description = "symbols; target = tokens at 0-based odd positions, then at even positions"
    default_vocab_size = 2

    def rearrange(self, inputs: np.ndarray) -> np.ndarray:
        return np.concatenate((inputs[:, 1::2], inputs[:, 0::2]), axis=1)
