"""``PRLSTMCache``, the generation cache: defined with the backbone in :mod:`prlstm.lm.cache`
(plain PyTorch, so the LM demo uses it without transformers) and re-exported here."""

from __future__ import annotations

from prlstm.lm.cache import PRLSTMCache

__all__ = ["PRLSTMCache"]
