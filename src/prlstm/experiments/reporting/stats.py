"""Uncertainty and significance for the report: how sure is a cell, and do two cells differ?

A cell of the benchmark is a handful of runs (seeds) of one model on one task. With so few
runs, "best score" and "mean ± std" overstate what is known, so this module gives

* :func:`wilson_interval`: a confidence interval for a cell's solve rate (``k`` of ``n`` runs
  scored at least the solve threshold), the Wilson score interval without continuity
  correction, which stays inside [0, 1] and is sensible at ``k = 0`` and ``k = n``;
* :func:`bootstrap_mean_interval`: a percentile-bootstrap interval for a cell's mean score,
  deterministic for a seed;
* :func:`fisher_solve_test`: Fisher's exact test on the 2×2 table (solved / not solved × model
  A / model B);
* :func:`permutation_test`: a permutation test on the difference of mean scores, exact
  (every split of the pooled runs) when there are at most :data:`EXACT_SPLITS` splits, else a
  seeded Monte Carlo;
* :func:`cell_stats` / :func:`compare`: those numbers for one cell, and for a pair of cells with
  a plain-words verdict;
* :func:`holm_adjusted`: Holm's step-down adjustment of a family of p-values (scipy has
  Benjamini–Hochberg but not Holm), for a report that tests many pairs at once.

Scores and the threshold must be in the same units (fractions in ``result.json``, where the
default threshold is :data:`~prlstm.experiments.run.evaluate.SOLVED_THRESHOLD`). scipy is imported
inside the functions, so ``import prlstm`` does not load it.
"""

from __future__ import annotations

import itertools
import math
import numbers
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prlstm.experiments.run.evaluate import SOLVED_THRESHOLD

Alternative = Literal["two-sided", "less", "greater"]
ALTERNATIVES = ("two-sided", "less", "greater")
ALPHA = 0.05
# Up to this many distinct splits of the pooled runs the permutation test enumerates them all
# (C(10, 5) = 252, C(16, 8) = 12,870); beyond it, a seeded Monte Carlo.
EXACT_SPLITS = 20_000
MONTE_CARLO_RESAMPLES = 9_999


def _check_confidence(confidence: float) -> None:
    if not (isinstance(confidence, int | float) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number strictly between 0 and 1, "
                         f"got {confidence!r}")


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, "
                         f"got {alternative!r}")


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_counts(k: object, n: object) -> tuple[int, int]:
    """``(k, n)`` as integers with ``0 <= k <= n`` and ``n >= 1``."""
    k, n = _check_count("k", k), _check_count("n", n)
    if n == 0:
        raise ValueError("n must be at least 1 (no runs: no proportion to estimate)")
    if k > n:
        raise ValueError(f"k ({k}) cannot exceed n ({n})")
    return k, n


def _finite_values(name: str, values: Sequence[float]) -> list[float]:
    """``values`` as a list of floats; empty, non-numeric or non-finite values raise."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{name} must hold finite numbers only, got {v!r}")
        out.append(float(v))
    if not out:
        raise ValueError(f"{name} must hold at least one value, got none")
    return out


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _check_resamples(n_resamples: object) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return n_resamples


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) for ``k`` successes in ``n`` trials.

    With ``z`` the two-sided normal quantile and ``p = k / n`` it is
    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``; at ``k = n`` the lower end is
    ``n / (n + z²)`` (0.6756 for ``n = 8``), at ``k = 0`` the upper end is ``z² / (n + z²)``.

    Raises:
        ValueError: ``n`` is 0, ``k`` or ``n`` is not a non-negative integer, ``k > n``, or
            ``confidence`` is not in (0, 1).
    """
    from scipy import stats

    k, n = _check_counts(k, n)
    _check_confidence(confidence)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def bootstrap_mean_interval(values: Sequence[float], confidence: float = 0.95,
                            n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval for the mean of ``values``.

    ``n_resamples`` resamples (with replacement, same size) are drawn from a
    ``numpy.random.Generator`` seeded with ``seed``, so the interval is the same on every call
    with the same arguments. A single value (or identical values) gives ``(v, v)``.

    Raises:
        ValueError: ``values`` is empty or holds a non-finite value; bad ``confidence``,
            ``n_resamples`` or ``seed``.
    """
    data = _finite_values("values", values)
    _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    seed = _check_seed(seed)
    if min(data) == max(data):
        return data[0], data[0]
    import numpy as np
    from scipy import stats

    result = stats.bootstrap((np.asarray(data),), np.mean, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile",
                             vectorized=True, rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def fisher_solve_test(k1: int, n1: int, k2: int, n2: int,
                      alternative: Alternative = "two-sided") -> float:
    """p-value of Fisher's exact test on ``[[k1, n1 - k1], [k2, n2 - k2]]``.

    ``k1`` of ``n1`` runs of A solved, ``k2`` of ``n2`` runs of B; ``"greater"`` tests whether A
    solves more often than B. Example: 8/8 against 0/8, two-sided, is ``2 / C(16, 8)``
    = 2 / 12870 ≈ 1.554e-4.

    Raises:
        ValueError: a count is not a non-negative integer, ``n`` is 0, ``k > n``, or an unknown
            ``alternative``.
    """
    from scipy import stats

    k1, n1 = _check_counts(k1, n1)
    k2, n2 = _check_counts(k2, n2)
    _check_alternative(alternative)
    result = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative=alternative)
    return min(1.0, float(result.pvalue))


def distinct_splits(n1: int, n2: int) -> int:
    """How many ways the pooled ``n1 + n2`` runs split into groups of ``n1`` and ``n2``."""
    return math.comb(n1 + n2, n1)


def permutation_test(x: Sequence[float], y: Sequence[float],
                     alternative: Alternative = "two-sided",
                     n_resamples: int = MONTE_CARLO_RESAMPLES, seed: int = 0) -> float:
    """p-value of a permutation test of ``mean(x) - mean(y)``.

    The null distribution is the statistic over the splits of the pooled values into groups
    of ``len(x)`` and ``len(y)``: all of them when there are at most :data:`EXACT_SPLITS` (or
    one sample has a single value; then ``n_resamples`` and ``seed`` play no part), else
    ``n_resamples`` random ones drawn by ``scipy.stats.permutation_test`` with a generator
    seeded by ``seed`` (p = (hits + 1) / (n_resamples + 1)). ``"greater"``:
    the fraction of splits whose statistic is at least the observed one (``"less"``: at most);
    ``"two-sided"``: twice the smaller of those two, capped at 1 (scipy's definition).
    Statistics equal to the observed one up to rounding count as hits.

    Raises:
        ValueError: an empty sample, a non-finite value, an unknown ``alternative``, or a bad
            ``n_resamples`` / ``seed``.
    """
    xs, ys = _finite_values("x", x), _finite_values("y", y)
    _check_alternative(alternative)
    n_resamples = _check_resamples(n_resamples)
    seed = _check_seed(seed)
    if distinct_splits(len(xs), len(ys)) <= EXACT_SPLITS or min(len(xs), len(ys)) == 1:
        return _exact_permutation_p(xs, ys, alternative)
    import numpy as np
    from scipy import stats

    def difference(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    result = stats.permutation_test(
        (np.asarray(xs), np.asarray(ys)), difference, permutation_type="independent",
        vectorized=True, alternative=alternative, n_resamples=n_resamples,
        rng=np.random.default_rng(seed))
    return min(1.0, float(result.pvalue))


def _exact_permutation_p(xs: list[float], ys: list[float], alternative: str) -> float:
    """The permutation p-value of ``mean(xs) - mean(ys)`` over every split of the pooled
    values (a statistic within a relative 1e-10 of the observed one counts as a hit)."""
    import numpy as np

    pooled = np.asarray(xs + ys)
    n1, n2 = len(xs), len(ys)
    splits = np.fromiter(itertools.chain.from_iterable(
        itertools.combinations(range(n1 + n2), n1)), dtype=np.intp).reshape(-1, n1)
    first = pooled[splits].sum(axis=1)  # row 0 is the observed split (x first)
    diffs = first / n1 - (pooled.sum() - first) / n2
    observed = diffs[0]
    tol = 1e-10 * float(np.abs(pooled).max())
    greater = float(np.mean(diffs >= observed - tol))
    less = float(np.mean(diffs <= observed + tol))
    p = {"greater": greater, "less": less, "two-sided": 2 * min(greater, less)}[alternative]
    return min(1.0, p)


@dataclass(frozen=True)
class CellStats:
    """One cell's runs: solve rate with its Wilson interval, mean with its bootstrap interval.

    Values are in the units of the scores given (fractions for ``result.json`` scores).
    """

    n: int
    solves: int
    solve_rate: float
    solve_low: float
    solve_high: float
    mean: float
    mean_low: float
    mean_high: float
    std: float | None  # sample standard deviation; None for n == 1

    def solve_text(self, percent: bool = True) -> str:
        """``3/8 solved (95 % CI 14–69 %)``: the Wilson interval of the solve rate."""
        scale, unit = (100.0, " %") if percent else (1.0, "")
        return (f"{self.solves}/{self.n} solved (95 % CI {scale * self.solve_low:.0f}–"
                f"{scale * self.solve_high:.0f}{unit})")


def cell_stats(scores: Sequence[float], threshold: float = SOLVED_THRESHOLD, *,
               confidence: float = 0.95, seed: int = 0) -> CellStats:
    """:class:`CellStats` of one cell's ``scores``; a run solves when its score is at least
    ``threshold`` (as in evaluation).

    Raises:
        ValueError: ``scores`` is empty or holds a non-finite value, or ``threshold`` is not
            finite.
    """
    values = _finite_values("scores", scores)
    threshold = _check_threshold(threshold)
    k, n = sum(v >= threshold for v in values), len(values)
    solve_low, solve_high = wilson_interval(k, n, confidence)
    mean_low, mean_high = bootstrap_mean_interval(values, confidence, seed=seed)
    return CellStats(n=n, solves=k, solve_rate=k / n, solve_low=solve_low,
                     solve_high=solve_high, mean=statistics.fmean(values), mean_low=mean_low,
                     mean_high=mean_high, std=statistics.stdev(values) if n > 1 else None)


def _check_threshold(threshold: object) -> float:
    if (isinstance(threshold, bool) or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return float(threshold)


@dataclass(frozen=True)
class Comparison:
    """Two cells (A, B) compared: Fisher's exact test on the solves and a permutation test on
    the mean scores, both two-sided.

    ``distinguishable`` when the smaller p-value is below ``alpha / 2`` (Bonferroni over the two
    tests, so the chance of a false "distinguishable" stays at most ``alpha``). ``attainable``
    says whether any outcome at these numbers of runs could have been distinguishable at all
    (with 3 runs each the smallest two-sided p-value of either test is 0.1): when it is False,
    "not distinguishable" says nothing about the models, only that there are too few runs.
    """

    n_a: int
    n_b: int
    solves_a: int
    solves_b: int
    mean_a: float
    mean_b: float
    fisher_p: float
    permutation_p: float
    alpha: float
    distinguishable: bool
    attainable: bool
    verdict: str


def _sizes(n_a: int, n_b: int) -> str:
    return f"n = {n_a}" if n_a == n_b else f"n = {n_a} vs {n_b}"


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value either test of :func:`compare` can give with ``n_a`` and
    ``n_b`` runs: Fisher's at ``n_a/n_a`` vs ``0/n_b``, and ``2 / C(n_a + n_b, n_a)`` for an
    exact permutation test (0 when the Monte Carlo is used: no bound taken)."""
    fisher = fisher_solve_test(n_a, n_a, 0, n_b)
    splits = distinct_splits(n_a, n_b)
    permutation = min(1.0, 2.0 / splits) if splits <= EXACT_SPLITS else 0.0
    return min(fisher, permutation)


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given.

    Sorted ascending, the i-th smallest of m p-values becomes ``(m - i + 1) · p``, made
    non-decreasing along that order and capped at 1. Rejecting where the adjusted value is
    below α keeps the family-wise error rate at α for any dependence between the tests.

    Raises:
        ValueError: a value that is not a number in [0, 1].
    """
    values = [float(v) for v in p_values]
    if any(not 0.0 <= v <= 1.0 for v in values):  # NaN fails both comparisons
        raise ValueError(f"p_values must lie in [0, 1], got {list(p_values)!r}")
    order = sorted(range(len(values)), key=values.__getitem__)
    adjusted, running = [0.0] * len(values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(values) - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def compare(a_scores: Sequence[float], b_scores: Sequence[float],
            threshold: float = SOLVED_THRESHOLD, *, alpha: float = ALPHA,
            seed: int = 0) -> Comparison:
    """Whether cells A and B differ, from their runs' scores (see :class:`Comparison`).

    The verdict reads e.g. ``distinguishable at n = 8 (Fisher p = 0.00016, permutation
    p = 0.00016; α = 0.05 over both tests)`` or ``not distinguishable at n = 3 (...; no outcome
    at this n could be)``.

    Raises:
        ValueError: an empty list or a non-finite score, a non-finite ``threshold``, or
            ``alpha`` not in (0, 1).
    """
    a = _finite_values("a_scores", a_scores)
    b = _finite_values("b_scores", b_scores)
    threshold = _check_threshold(threshold)
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    k_a, k_b = sum(v >= threshold for v in a), sum(v >= threshold for v in b)
    fisher_p = fisher_solve_test(k_a, len(a), k_b, len(b))
    permutation_p = permutation_test(a, b, seed=seed)
    level = alpha / 2
    distinguishable = min(fisher_p, permutation_p) < level
    attainable = smallest_p(len(a), len(b)) < level
    detail = (f"Fisher p = {fisher_p:.2g}, permutation p = {permutation_p:.2g}; "
              f"α = {alpha:g} over both tests")
    if not attainable:
        detail += "; no outcome at this n could be"
    verdict = (f"{'' if distinguishable else 'not '}distinguishable at "
               f"{_sizes(len(a), len(b))} ({detail})")
    return Comparison(n_a=len(a), n_b=len(b), solves_a=k_a, solves_b=k_b,
                      mean_a=statistics.fmean(a), mean_b=statistics.fmean(b),
                      fisher_p=fisher_p, permutation_p=permutation_p, alpha=float(alpha),
                      distinguishable=distinguishable, attainable=attainable, verdict=verdict)
