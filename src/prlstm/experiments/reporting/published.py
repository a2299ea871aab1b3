"""Published scores (1M training steps) to show beside ours — marked "published", never measured.

Sources (docs/experiments.md#published-scores):
- ``NNCH``: Delétang et al., "Neural Networks and the Chomsky Hierarchy" (ICLR 2023), maximum
  over 10 seeds × 3 learning rates, as re-quoted in DeltaFormer (Xu et al.), Table 5; plus the
  transformer's 61.9 on cycle_navigation from the NNCH text.
- ``PR-LSTM``: the PR-LSTM paper (arXiv 2605.17108), one seed at lr 1e-3.
Cells not found in a readable source are absent (never guessed).
"""

from __future__ import annotations

import math

SOURCES = {
    "NNCH": "Delétang et al. 2023 (max over 10 seeds × 3 lrs; via DeltaFormer Table 5)",
    "PR-LSTM": "PR-LSTM paper, arXiv 2605.17108 (one seed, lr 1e-3)",
}

# NNCH's scores (%) of its five models, in this order, on the tasks it reports.
_NNCH_MODELS = ("rnn", "stack_rnn", "tape_rnn", "transformer", "lstm")
_NNCH_SCORES: dict[str, tuple[float, ...]] = {
    "modular_arithmetic": (100.0, 100.0, 100.0, 24.2, 100.0),
    "parity_check": (100.0, 100.0, 100.0, 52.0, 100.0),
    "cycle_navigation": (math.nan, math.nan, math.nan, 61.9, math.nan),  # the transformer only
    "stack_manipulation": (56.0, 100.0, 100.0, 57.5, 59.1),
    "reverse_string": (62.0, 100.0, 100.0, 62.3, 60.9),
    "duplicate_string": (50.3, 52.8, 100.0, 52.8, 57.6),
    "odds_first": (51.0, 51.9, 100.0, 52.8, 55.6),
}

# task -> model -> (score in %, source key)
PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    **{task: {m: (x, "NNCH") for m, x in zip(_NNCH_MODELS, scores, strict=True)
              if not math.isnan(x)} for task, scores in _NNCH_SCORES.items()},
    "bucket_sort": {"pr_lstm": (99.4, "PR-LSTM")},
    "missing_duplicate_string": {"pr_lstm": (100.0, "PR-LSTM")},
    "binary_multiplication": {"pr_lstm": (52.9, "PR-LSTM")},
    "compute_sqrt": {"pr_lstm": (56.8, "PR-LSTM")},
}


def published(task: str, model: str) -> tuple[float, str] | None:
    """``(score %, source)`` published for ``task`` × ``model`` at 1M steps, or None."""
    return PUBLISHED.get(task, {}).get(model)
