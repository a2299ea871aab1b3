"""Published scores (1M training steps) to show beside ours — marked "published", never measured.

Sources (docs/experiments.md#published-scores):
- ``NNCH``: Delétang et al., "Neural Networks and the Chomsky Hierarchy" (ICLR 2023), maximum
  over 10 seeds × 3 learning rates, as re-quoted in DeltaFormer (Xu et al.), Table 5; plus the
  transformer's 61.9 on cycle_navigation from the NNCH text.
- ``PR-LSTM``: the PR-LSTM paper (arXiv 2605.17108), one seed at lr 1e-3.
Cells not found in a readable source are absent (never guessed).
"""

from __future__ import annotations

SOURCES = {
    "NNCH": "Delétang et al. 2023 (max over 10 seeds × 3 lrs; via DeltaFormer Table 5)",
    "PR-LSTM": "PR-LSTM paper, arXiv 2605.17108 (one seed, lr 1e-3)",
}

# task -> model -> (score in %, source key)
PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    "modular_arithmetic": {"rnn": (100.0, "NNCH"), "stack_rnn": (100.0, "NNCH"),
                           "tape_rnn": (100.0, "NNCH"), "transformer": (24.2, "NNCH"),
                           "lstm": (100.0, "NNCH")},
    "parity_check": {"rnn": (100.0, "NNCH"), "stack_rnn": (100.0, "NNCH"),
                     "tape_rnn": (100.0, "NNCH"), "transformer": (52.0, "NNCH"),
                     "lstm": (100.0, "NNCH")},
    "cycle_navigation": {"transformer": (61.9, "NNCH")},
    "stack_manipulation": {"rnn": (56.0, "NNCH"), "stack_rnn": (100.0, "NNCH"),
                           "tape_rnn": (100.0, "NNCH"), "transformer": (57.5, "NNCH"),
                           "lstm": (59.1, "NNCH")},
    "reverse_string": {"rnn": (62.0, "NNCH"), "stack_rnn": (100.0, "NNCH"),
                       "tape_rnn": (100.0, "NNCH"), "transformer": (62.3, "NNCH"),
                       "lstm": (60.9, "NNCH")},
    "duplicate_string": {"rnn": (50.3, "NNCH"), "stack_rnn": (52.8, "NNCH"),
                         "tape_rnn": (100.0, "NNCH"), "transformer": (52.8, "NNCH"),
                         "lstm": (57.6, "NNCH")},
    "odds_first": {"rnn": (51.0, "NNCH"), "stack_rnn": (51.9, "NNCH"),
                   "tape_rnn": (100.0, "NNCH"), "transformer": (52.8, "NNCH"),
                   "lstm": (55.6, "NNCH")},
    "bucket_sort": {"pr_lstm": (99.4, "PR-LSTM")},
    "missing_duplicate_string": {"pr_lstm": (100.0, "PR-LSTM")},
    "binary_multiplication": {"pr_lstm": (52.9, "PR-LSTM")},
    "compute_sqrt": {"pr_lstm": (56.8, "PR-LSTM")},
}


def published(task: str, model: str) -> tuple[float, str] | None:
    """``(score %, source)`` published for ``task`` × ``model`` at 1M steps, or None."""
    return PUBLISHED.get(task, {}).get(model)
