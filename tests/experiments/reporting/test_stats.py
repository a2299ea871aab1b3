"""The report's statistics against values computed by hand or by enumeration in the test."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prlstm.experiments.reporting import stats
from prlstm.experiments.reporting.stats import (
    bootstrap_mean_interval,
    cell_stats,
    compare,
    fisher_solve_test,
    permutation_test,
    wilson_interval,
)
from prlstm.experiments.run.evaluate import SOLVED_THRESHOLD

Z95 = statistics.NormalDist().inv_cdf(0.975)  # 1.959963984540054


def wilson_by_formula(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval from its closed formula (no scipy)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def enumerated_p(x: Sequence[float], y: Sequence[float], alternative: str) -> float:
    """Exact permutation p-value of mean(x) - mean(y), by listing every split."""
    pooled, n = [*x, *y], len(x)
    observed = statistics.fmean(x) - statistics.fmean(y)
    diffs = []
    for chosen in itertools.combinations(range(len(pooled)), n):
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        diffs.append(statistics.fmean(first) - statistics.fmean(second))
    tol = 1e-9
    greater = sum(d >= observed - tol for d in diffs) / len(diffs)
    less = sum(d <= observed + tol for d in diffs) / len(diffs)
    return {"greater": greater, "less": less,
            "two-sided": min(1.0, 2 * min(greater, less))}[alternative]


# --- Wilson ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "n"), [(8, 8), (0, 8), (3, 8), (1, 1), (17, 40)])
def test_wilson_matches_closed_formula(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    want_low, want_high = wilson_by_formula(k, n)
    assert low == pytest.approx(max(0.0, want_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, want_high), abs=1e-12)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_literal_values() -> None:
    # by hand: z² = 3.8415; k = n = 8: low = 8 / (8 + z²) = 8 / 11.8415 = 0.67559
    assert wilson_interval(8, 8) == pytest.approx((0.67559, 1.0), abs=1e-5)
    # k = 0: high = z² / (8 + z²) = 3.8415 / 11.8415 = 0.32441
    assert wilson_interval(0, 8) == pytest.approx((0.0, 0.32441), abs=1e-5)
    # k = 3: centre 0.61509 / 1.48018 = 0.41555, half 1.95996 · 0.21048 / 1.48018 = 0.27871
    assert wilson_interval(3, 8) == pytest.approx((0.13684, 0.69426), abs=1e-5)


def test_wilson_confidence_widens() -> None:
    low95, high95 = wilson_interval(3, 8)
    low99, high99 = wilson_interval(3, 8, confidence=0.99)
    assert low99 < low95 and high99 > high95
    z99 = statistics.NormalDist().inv_cdf(0.995)
    assert (low99, high99) == pytest.approx(wilson_by_formula(3, 8, z99), abs=1e-12)


@pytest.mark.parametrize(("k", "n", "message"), [
    (0, 0, "n must be at least 1"), (9, 8, r"k \(9\) cannot exceed n \(8\)"),
    (-1, 8, "k must be a non-negative integer"), (1.5, 8, "k must be"),
    (True, 8, "k must be"), (1, 8.0, "n must be")])
def test_wilson_rejects_bad_counts(k: object, n: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(k, n)  # type: ignore[arg-type]


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, math.nan])
def test_wilson_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be"):
        wilson_interval(3, 8, confidence)


# --- bootstrap -------------------------------------------------------------------------------

SCORES = [0.31, 0.52, 0.55, 0.97, 1.0, 0.64, 0.88, 0.93]


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    first = bootstrap_mean_interval(SCORES, seed=3)
    assert bootstrap_mean_interval(SCORES, seed=3) == first
    assert bootstrap_mean_interval(list(SCORES), seed=3, n_resamples=10_000) == first
    assert bootstrap_mean_interval(SCORES, seed=4) != first  # the seed is used


def test_bootstrap_contains_the_mean_and_stays_in_range() -> None:
    low, high = bootstrap_mean_interval(SCORES)
    assert min(SCORES) <= low < statistics.fmean(SCORES) < high <= max(SCORES)
    narrow = bootstrap_mean_interval(SCORES, confidence=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_bootstrap_width_is_about_the_normal_one() -> None:
    values = [(i * 37 % 101) / 100 for i in range(60)]
    low, high = bootstrap_mean_interval(values)
    normal = 2 * Z95 * statistics.pstdev(values) / math.sqrt(len(values))
    assert high - low == pytest.approx(normal, rel=0.1)
    assert (low + high) / 2 == pytest.approx(statistics.fmean(values), abs=0.02)


def test_bootstrap_single_and_constant_values() -> None:
    assert bootstrap_mean_interval([0.7]) == (0.7, 0.7)
    assert bootstrap_mean_interval([0.25] * 5) == (0.25, 0.25)


@pytest.mark.parametrize(("values", "message"), [
    ([], "at least one value"), ([0.5, math.nan], "finite numbers"),
    ([0.5, math.inf], "finite numbers"), (["0.5"], "finite numbers")])
def test_bootstrap_rejects_bad_values(values: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_mean_interval(values)


def test_bootstrap_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean_interval(SCORES, n_resamples=0)
    with pytest.raises(ValueError, match="seed"):
        bootstrap_mean_interval(SCORES, seed=-1)


# --- Fisher ----------------------------------------------------------------------------------

def test_fisher_literal() -> None:
    assert fisher_solve_test(8, 8, 0, 8) == pytest.approx(2 / 12870, rel=1e-12)
    assert 2 / math.comb(16, 8) == pytest.approx(1.554e-4, rel=1e-3)
    assert fisher_solve_test(8, 8, 0, 8, "greater") == pytest.approx(1 / 12870, rel=1e-12)
    assert fisher_solve_test(8, 8, 0, 8, "less") == pytest.approx(1.0)
    assert fisher_solve_test(0, 8, 8, 8, "less") == pytest.approx(1 / 12870, rel=1e-12)


def test_fisher_by_hypergeometric_sum() -> None:
    # 3/4 vs 1/4: tables with the margins (4, 4 | 4 solved) have probabilities
    # C(4, a) C(4, 4 - a) / C(8, 4) = (1, 16, 36, 16, 1) / 70; two-sided sums those <= 16/70
    assert fisher_solve_test(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    assert fisher_solve_test(3, 4, 1, 4, "greater") == pytest.approx(17 / 70, rel=1e-12)
    assert fisher_solve_test(2, 4, 2, 4) == pytest.approx(1.0)


def test_fisher_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot exceed"):
        fisher_solve_test(5, 4, 1, 4)
    with pytest.raises(ValueError, match="n must be at least 1"):
        fisher_solve_test(0, 0, 1, 4)
    with pytest.raises(ValueError, match="alternative must be one of"):
        fisher_solve_test(1, 4, 1, 4, "bigger")  # type: ignore[arg-type]


# --- permutation test ------------------------------------------------------------------------

@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize(("x", "y"), [
    ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
    ([0.9, 0.8, 0.3], [0.5, 0.2, 0.1, 0.4]),
    ([1.0, 1.0, 0.5, 0.2], [1.0, 0.5, 0.5]),  # ties in the pooled values
    ([0.4], [0.6]),
])
def test_permutation_exact_matches_enumeration(x: list[float], y: list[float],
                                               alternative: str) -> None:
    got = permutation_test(x, y, alternative)  # type: ignore[arg-type]
    assert got == pytest.approx(enumerated_p(x, y, alternative), abs=1e-12)


def test_permutation_literal_small_case() -> None:
    # 3 vs 3, fully separated: 1 of the C(6, 3) = 20 splits is as extreme on each side
    assert permutation_test([1, 2, 3], [4, 5, 6], "less") == pytest.approx(1 / 20)
    assert permutation_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert permutation_test([1, 2, 3], [4, 5, 6], "greater") == pytest.approx(1.0)
    assert permutation_test([0.5] * 3, [0.5] * 4) == pytest.approx(1.0)


def test_permutation_exact_ignores_seed_and_resamples() -> None:
    x, y = [0.9, 0.8, 0.3, 0.7], [0.5, 0.2, 0.1, 0.4]
    p = permutation_test(x, y)
    assert permutation_test(x, y, seed=9, n_resamples=1) == p


@pytest.mark.slow
def test_permutation_monte_carlo_is_seeded() -> None:
    x = [0.1 * i for i in range(10)]
    y = [0.1 * i + 0.35 for i in range(10)]
    assert stats.distinct_splits(10, 10) > stats.EXACT_SPLITS  # Monte Carlo branch
    p = permutation_test(x, y, n_resamples=999, seed=1)
    assert permutation_test(x, y, n_resamples=999, seed=1) == p
    assert 0 < p < 1
    assert p == pytest.approx(enumerated_p(x, y, "two-sided"), abs=0.03)
    # nothing as extreme in any resample: (0 + 1) / (999 + 1) per side
    far = [v + 100 for v in y]
    assert permutation_test(x, far, "less", n_resamples=999) == pytest.approx(1 / 1000)
    assert permutation_test(x, far, n_resamples=999) == pytest.approx(2 / 1000)


def test_permutation_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="x must hold at least one value"):
        permutation_test([], [1.0])
    with pytest.raises(ValueError, match="y must hold finite numbers"):
        permutation_test([1.0], [math.nan])
    with pytest.raises(ValueError, match="alternative"):
        permutation_test([1.0], [2.0], "both")  # type: ignore[arg-type]


# --- cells and comparisons -------------------------------------------------------------------

def test_cell_stats() -> None:
    scores = [1.0, 0.95, 0.9, 0.5, 0.2]  # 0.9 is exactly the threshold: solved
    cell = cell_stats(scores, 0.9)
    assert (cell.n, cell.solves, cell.solve_rate) == (5, 3, 0.6)
    assert (cell.solve_low, cell.solve_high) == pytest.approx(wilson_by_formula(3, 5))
    assert cell.mean == pytest.approx(statistics.fmean(scores))
    assert (cell.mean_low, cell.mean_high) == bootstrap_mean_interval(scores)
    assert cell.mean_low <= cell.mean <= cell.mean_high
    assert cell.std == pytest.approx(statistics.stdev(scores))
    assert cell.solve_text() == "3/5 solved (95 % CI 23–88 %)"
    assert cell_stats(scores) == cell_stats(scores, SOLVED_THRESHOLD)


def test_cell_stats_single_run() -> None:
    cell = cell_stats([0.95])
    assert (cell.n, cell.solves, cell.std, cell.mean_low, cell.mean_high) == (
        1, 1, None, 0.95, 0.95)


@pytest.mark.parametrize(("scores", "threshold", "message"), [
    ([], 0.9, "scores must hold at least one value"),
    ([0.5, math.nan], 0.9, "scores must hold finite numbers"),
    ([0.5], math.inf, "threshold must be a finite number")])
def test_cell_stats_rejects_bad_input(scores: list[float], threshold: float,
                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cell_stats(scores, threshold)


def test_compare_distinguishable() -> None:
    result = compare([1.0] * 8, [0.3] * 8, 0.9)
    assert result.fisher_p == pytest.approx(2 / 12870)
    assert result.permutation_p == pytest.approx(2 / 12870)
    assert result.distinguishable and result.attainable
    assert (result.solves_a, result.solves_b, result.n_a, result.n_b) == (8, 0, 8, 8)
    assert result.verdict.startswith("distinguishable at n = 8 (Fisher p = 0.00016, "
                                     "permutation p = 0.00016; α = 0.05 over both tests")


def test_compare_too_few_runs() -> None:
    result = compare([1.0] * 3, [0.3] * 3, 0.9)
    assert result.fisher_p == pytest.approx(0.1) and result.permutation_p == pytest.approx(0.1)
    assert not result.distinguishable and not result.attainable
    assert result.verdict.startswith("not distinguishable at n = 3 ")
    assert result.verdict.endswith("; no outcome at this n could be)")


def test_compare_uses_both_tests_at_half_alpha() -> None:
    # 4 vs 4 fully separated: both p = 2 / C(8, 4) = 0.029 < 0.05 but not < 0.025
    result = compare([1.0] * 4, [0.3] * 4, 0.9)
    assert result.fisher_p == pytest.approx(2 / 70)
    assert not result.distinguishable and not result.attainable
    # same solve counts, very different means: only the permutation test sees it
    mixed = compare([0.85, 0.8, 0.82, 0.88, 0.86, 0.84], [0.1, 0.2, 0.15, 0.05, 0.12, 0.3])
    assert mixed.fisher_p == pytest.approx(1.0)
    assert mixed.permutation_p == pytest.approx(2 / math.comb(12, 6))
    assert mixed.distinguishable
    assert mixed.verdict.startswith("distinguishable at n = 6 ")


def test_compare_unequal_sizes_and_no_difference() -> None:
    result = compare([0.95, 0.2, 0.6], [0.97, 0.3, 0.5, 0.4, 0.92], 0.9)
    assert result.verdict.startswith("not distinguishable at n = 3 vs 5 (")
    assert result.fisher_p == pytest.approx(fisher_solve_test(1, 3, 2, 5))
    same = compare([0.5] * 8, [0.5] * 8)
    assert same.fisher_p == same.permutation_p == 1.0
    assert same.attainable and not same.distinguishable
    assert "no outcome" not in same.verdict


def test_compare_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="b_scores must hold at least one value"):
        compare([1.0], [])
    with pytest.raises(ValueError, match="a_scores must hold finite numbers"):
        compare([math.inf], [1.0])
    with pytest.raises(ValueError, match="alpha must be"):
        compare([1.0], [1.0], alpha=0.0)


@pytest.mark.slow
def test_import_prlstm_does_not_load_scipy() -> None:
    import subprocess
    import sys

    code = ("import sys, prlstm, prlstm.experiments.reporting.stats, "
            "prlstm.experiments.orchestrate.tuning; print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_holm_by_hand() -> None:
    """Four p-values: sorted 0.01, 0.02, 0.03, 0.04 are multiplied by 4, 3, 2, 1 (0.04, 0.06,
    0.06, 0.04), then made non-decreasing (0.04, 0.06, 0.06, 0.06), in the input's order."""
    got = stats.holm_adjusted([0.03, 0.01, 0.04, 0.02])
    assert got == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm_adjusted([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # capped path: 2×0.4
    assert stats.holm_adjusted([0.9, 0.6]) == [1.0, 1.0]  # capped at 1
    assert stats.holm_adjusted([]) == []
    assert stats.holm_adjusted([0.2]) == [0.2]  # one test: nothing to adjust


def test_holm_is_never_below_the_raw_value_nor_above_bonferroni() -> None:
    values = [0.001, 0.2, 0.004, 0.04, 0.5, 0.0002, 0.03]
    for raw, holm in zip(values, stats.holm_adjusted(values), strict=True):
        assert raw <= holm <= min(1.0, len(values) * raw)


@pytest.mark.parametrize("bad", [[0.1, -0.01], [1.5], [float("nan")]])
def test_holm_rejects_values_outside_0_1(bad: list[float]) -> None:
    with pytest.raises(ValueError, match=r"p_values must lie in \[0, 1\]"):
        stats.holm_adjusted(bad)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
@settings(max_examples=300, deadline=None)
def test_holm_over_more_pairs_never_lowers_a_pairs_p(some: list[float],
                                                     more: list[float]) -> None:
    """What an interim report of one task relies on: the full report's Holm p of a pair is at
    least the one computed over that task's pairs alone."""
    alone = stats.holm_adjusted(some)
    together = stats.holm_adjusted(some + more)[:len(some)]
    assert all(t >= a - 1e-12 for a, t in zip(alone, together, strict=True))
