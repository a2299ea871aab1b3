"""Sampling distributions, with fixed seeds, >= 2e4 samples and 3σ bounds.

See docs/benchmark.md#conformance-checks.
"""

from __future__ import annotations

import math

import pytest
import torch

from prlstm import tasks

N = 20_000


def assert_frequency(hits: int | torch.Tensor, n: int, p: float, what: str) -> None:
    """|hits/n − p| <= 3σ of a binomial proportion."""
    freq = int(hits) / n
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(freq - p) <= 3 * sigma, (
        f"{what}: frequency {freq:.4f}, expected {p:.4f} ± {3 * sigma:.4f}")


def label_counts(task: tasks.Task, length: int, seed: int, n: int = N) -> list[int]:
    labels = task.sample_batch(n, length, seed=seed).targets[:, 0]
    return torch.bincount(labels, minlength=task.output_size).tolist()


# Item 54.
@pytest.mark.parametrize("length", [3, 4])
def test_modular_arithmetic_t3_label_distribution(length: int) -> None:
    counts = label_counts(tasks.get("modular_arithmetic"), length, seed=54)
    assert_frequency(counts[0], N, 19 / 75, "P(label=0)")
    for k in range(1, 5):
        assert_frequency(counts[k], N, 14 / 75, f"P(label={k})")


def test_modular_arithmetic_brackets_mult_l5_matches_t3_distribution() -> None:
    counts = label_counts(tasks.get("modular_arithmetic_brackets"), 5, seed=540)
    assert_frequency(counts[0], N, 19 / 75, "P(label=0)")
    for k in range(1, 5):
        assert_frequency(counts[k], N, 14 / 75, f"P(label={k})")


def test_modular_arithmetic_brackets_no_mult_l5_uniform() -> None:
    counts = label_counts(tasks.get("modular_arithmetic_brackets", mult=False), 5, seed=541)
    for k in range(5):
        assert_frequency(counts[k], N, 0.2, f"P(label={k})")


def test_modular_arithmetic_operators_uniform() -> None:
    x = tasks.get("modular_arithmetic").sample_batch(N // 10, 21, seed=542).inputs[:, 1::2]
    n = x.numel()
    for op in (5, 6, 7):
        assert_frequency((x == op).sum(), n, 1 / 3, f"P(op={op})")


# Item 55.
@pytest.mark.parametrize("length", [2, 3, 10, 41])
def test_even_pairs_balanced(length: int) -> None:
    counts = label_counts(tasks.get("even_pairs"), length, seed=55 + length)
    assert_frequency(counts[1], N, 0.5, "P(label=1)")


# Item 56.
def test_solve_equation_x_position_l7() -> None:
    x = tasks.get("solve_equation").sample_batch(N, 7, seed=56).inputs
    position = (x == 9).long().argmax(dim=1)
    assert set(position.tolist()) <= {1, 3}
    assert_frequency((position == 1).sum(), N, 0.6, "P(x at index 1)")


# Item 57.
def test_stack_manipulation_empty_stack_l2() -> None:
    targets = tasks.get("stack_manipulation").sample_batch(N, 2, seed=57).targets
    assert_frequency((targets[:, 0] == 2).sum(), N, 1 / 3, "P(empty final stack)")


def test_stack_manipulation_initial_stack_size_l5() -> None:
    x = tasks.get("stack_manipulation").sample_batch(N, 5, seed=570).inputs
    leading = (x < 2).long().cumprod(dim=1).sum(dim=1)  # number of leading stack bits
    assert set(leading.tolist()) == {1, 2, 3, 4}
    for k in range(1, 5):
        assert_frequency((leading == k).sum(), N, 0.25, f"P({k} initial bits)")


def test_stack_manipulation_actions_uniform() -> None:
    x = tasks.get("stack_manipulation").sample_batch(N // 10, 30, seed=571).inputs
    actions = x[x >= 2]
    for a in (2, 3, 4):
        assert_frequency((actions == a).sum(), actions.numel(), 1 / 3, f"P(action={a})")


# Item 58.
def test_binary_addition_separator_uniform_l8() -> None:
    x = tasks.get("binary_addition").sample_batch(N, 8, seed=58).inputs
    sep = (x == 2).long().argmax(dim=1)
    assert set(sep.tolist()) == set(range(1, 7))
    for k in range(1, 7):
        assert_frequency((sep == k).sum(), N, 1 / 6, f"P(separator at {k})")


def test_binary_operands_uniform_over_nonzero_values() -> None:
    """L = 5 with the separator at 2: a and b are uniform over 1..3 and 1..3."""
    x = tasks.get("binary_multiplication").sample_batch(N, 5, seed=580).inputs
    rows = x[x[:, 2] == 2]
    n = rows.shape[0]
    a = rows[:, 0] + 2 * rows[:, 1]
    b = rows[:, 3] + 2 * rows[:, 4]
    for value in (1, 2, 3):
        assert_frequency((a == value).sum(), n, 1 / 3, f"P(a={value})")
        assert_frequency((b == value).sum(), n, 1 / 3, f"P(b={value})")


def test_binary_addition_l2_uniform_over_three_numbers() -> None:
    x = tasks.get("binary_addition").sample_batch(N, 2, seed=581).inputs
    n = x[:, 0] + 2 * x[:, 1]
    for value in (0, 1, 2):
        assert_frequency((n == value).sum(), N, 1 / 3, f"P(n={value})")


def test_compute_sqrt_uniform_over_nonzero_l2() -> None:
    x = tasks.get("compute_sqrt").sample_batch(N, 2, seed=582).inputs
    n = 2 * x[:, 0] + x[:, 1]
    for value in (1, 2, 3):
        assert_frequency((n == value).sum(), N, 1 / 3, f"P(n={value})")


# Item 59.
def test_missing_duplicate_placeholder_uniform_l7() -> None:
    x = tasks.get("missing_duplicate_string").sample_batch(N, 7, seed=59).inputs
    position = (x == 2).long().argmax(dim=1)
    assert set(position.tolist()) == set(range(6))
    for k in range(6):
        assert_frequency((position == k).sum(), N, 1 / 6, f"P(placeholder at {k})")


# Item 60.
def test_modular_arithmetic_brackets_second_token_l6() -> None:
    x = tasks.get("modular_arithmetic_brackets").sample_batch(N, 6, seed=60).inputs
    assert_frequency((x[:, 1] == 6).sum(), N, 0.5, "P(input[1] is '-')")
    assert_frequency((x[:, 1] < 5).sum(), N, 0.5, "P(input[1] is a digit)")


@pytest.mark.parametrize("name", ["parity_check", "reverse_string", "bucket_sort",
                                  "cycle_navigation"])
def test_iid_symbols_uniform(name: str) -> None:
    task = tasks.get(name)
    x = task.sample_batch(N // 20, 20, seed=61).inputs
    for v in range(task.input_size):
        assert_frequency((x == v).sum(), x.numel(), 1 / task.input_size, f"P(symbol={v})")
