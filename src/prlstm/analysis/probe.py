"""Linear probes of the automaton state (docs/experiments.md#probing-the-automaton-state),
with scikit-learn.

A multinomial logistic regression on standardised hidden states is fit on positions inside
the training range (t < 40) of one half of the sequences and scored, per position bucket, on
the other half (held-out sequences, so the in-range bucket is not training accuracy).
scikit-learn is the optional ``analysis`` extra, imported only here, only when called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

#: Position buckets [start, end) of the probes.
BUCKETS: tuple[tuple[int, int], ...] = ((0, 40), (40, 100), (100, 250), (250, 500))


def bucket_name(bucket: tuple[int, int]) -> str:
    """``"[40,100)"`` for ``(40, 100)``."""
    return f"[{bucket[0]},{bucket[1]})"


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as err:
        raise ImportError("the probe needs scikit-learn: pip install 'prlstm[analysis]'") from err
    return LogisticRegression, make_pipeline, StandardScaler


def probe_accuracy(states: Tensor, labels: Tensor, valid: Tensor, *, fit_end: int = 40,
                   buckets: Sequence[tuple[int, int]] = BUCKETS, seed: int = 0,
                   max_iter: int = 500) -> dict[str, float]:
    """Accuracy per bucket of a probe fit on positions ``t < fit_end``.

    Args:
        states: (N, T, H) hidden states; labels: (N, T) int classes; valid: (N, T) bool.
        fit_end: probes are fit on positions ``[0, fit_end)`` of the even-indexed sequences.
        buckets: ``[start, end)`` ranges scored on the odd-indexed (held-out) sequences.
        seed: the logistic regression's ``random_state``.

    Returns:
        ``{bucket name: accuracy}``; a bucket with no valid held-out position is ``nan``.
    """
    if states.dim() != 3 or labels.shape != states.shape[:2] or valid.shape != labels.shape:
        raise ValueError(f"states must be (N, T, H) with labels and valid (N, T), got "
                         f"{tuple(states.shape)}, {tuple(labels.shape)}, {tuple(valid.shape)}")
    if states.shape[0] < 2:
        raise ValueError(f"states need N >= 2 sequences (fit and held-out halves), got "
                         f"{states.shape[0]}")
    LogisticRegression, make_pipeline, StandardScaler = _sklearn()
    X, y, ok = states.double().numpy(), labels.numpy(), valid.numpy()
    fit_rows, test_rows = np.arange(0, len(X), 2), np.arange(1, len(X), 2)
    fit_mask = ok[fit_rows, :fit_end]
    Xf, yf = X[fit_rows, :fit_end][fit_mask], y[fit_rows, :fit_end][fit_mask]
    if len(np.unique(yf)) < 2:
        raise ValueError("the fit positions hold a single label class; nothing to probe")
    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=max_iter, random_state=seed))
    probe.fit(Xf, yf)
    out = {}
    for start, end in buckets:
        mask = ok[test_rows, start:end]
        if not mask.any():
            out[bucket_name((start, end))] = float("nan")
            continue
        Xt, yt = X[test_rows, start:end][mask], y[test_rows, start:end][mask]
        out[bucket_name((start, end))] = float((probe.predict(Xt) == yt).mean())
    return out
