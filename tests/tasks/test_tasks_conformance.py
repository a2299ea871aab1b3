"""Hand-checked labels and targets, shapes, degenerate lengths and invariants of every task.

See docs/benchmark.md#conformance-checks.
"""

from __future__ import annotations

import pytest
import torch

from prlstm import tasks

# Worked examples: (row, task, options, input ids, expected target, expected mask or None =
# derived).
LABELS = [
    (1, "parity_check", [1, 0, 1, 1], [1], None),
    (2, "parity_check", [0, 1, 1, 1, 1], [0], None),
    (3, "even_pairs", [0, 0, 1, 1, 1, 0], [0], None),
    (4, "even_pairs", [0, 1, 0, 1, 0, 0, 1], [1], None),
    (5, "even_pairs", [1], [0], None),
    (6, "even_pairs", [1, 0], [1], None),
    (7, "cycle_navigation", [2, 0, 1, 0, 0], [3], None),
    (8, "cycle_navigation", [2, 2, 2, 0], [2], None),
    (9, "cycle_navigation", [0], [4], None),
    (10, "modular_arithmetic", [1, 5, 2, 7, 3], [2], None),
    (11, "modular_arithmetic", [1, 6, 1, 6, 1], [4], None),
    (12, "modular_arithmetic", [0, 7, 1, 5, 4, 7, 3, 6, 2], [0], None),
    (13, "modular_arithmetic", [3, 6, 2, 7, 4], [0], None),
    (14, "modular_arithmetic", [4, 7, 4, 7, 4, 6, 3], [1], None),
    (15, "modular_arithmetic_brackets", [8, 8, 1, 6, 2, 9, 7, 8, 6, 3, 9, 9], [3], None),
    (16, "modular_arithmetic_brackets", [8, 6, 4, 5, 8, 2, 6, 3, 9, 9], [0], None),
    (17, "modular_arithmetic_brackets", [8, 1, 6, 6, 3, 9], [4], None),
    (18, "modular_arithmetic_brackets", [6, 3], [2], None),
    (19, "solve_equation", [9, 10, 3], [3], None),
    (20, "solve_equation", [6, 9, 10, 2], [3], None),
    (21, "solve_equation", [7, 9, 5, 3, 8, 10, 1], [3], None),
    (22, "solve_equation", [7, 6, 9, 8, 10, 4], [1], None),
    (23, "solve_equation", [7, 7, 1, 6, 9, 8, 6, 7, 6, 2, 8, 8, 10, 0], [3], None),
    (24, "stack_manipulation", [0, 1, 1, 0, 4, 2, 2], [1, 1, 0, 2, 0, 0, 0, 0],
     [1, 1, 1, 1, 0, 0, 0, 0]),
    (25, "stack_manipulation", [1, 1, 0, 2, 2, 2], [2, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]),
    (26, "stack_manipulation", [0, 3, 3], [0, 0, 0, 2], None),
    (27, "stack_manipulation", [1, 2, 2, 4], [1, 2, 0, 0, 0], None),
    (28, "reverse_string", [1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 1], None),
    (29, "duplicate_string", [1, 0, 1], [1, 0, 1, 1, 0, 1], None),
    (30, "missing_duplicate_string", [0, 1, 1, 0, 0, 2, 1, 0], [1], None),
    (31, "missing_duplicate_string", [1, 0, 1, 1, 2, 1, 3], [0], None),
    (32, "odds_first", [1, 0, 0], [0, 1, 0], None),
    (33, "odds_first", [0, 0, 1, 1, 0, 1, 0, 1], [0, 1, 1, 1, 0, 1, 0, 0], None),
    (34, "binary_addition", [0, 0, 1, 2, 0, 1, 1, 0, 1], [0, 1, 0, 1, 1, 2, 0, 0, 0, 0],
     [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]),
    (35, "binary_addition", [1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1],
     [1, 0, 0, 1, 0, 1, 2, 0, 0, 0, 0, 0], None),
    (36, "binary_addition", [1, 1, 2, 1, 1], [0, 1, 1, 2, 0, 0], None),
    (37, "binary_addition", [1, 2, 1], [0, 1, 2, 0], None),
    (38, "binary_addition", [0, 1], [0, 1, 2], None),
    (39, "binary_multiplication", [0, 0, 1, 2, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 0, 1, 2, 0], None),
    (40, "binary_multiplication", [1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 0], None),
    (41, "binary_multiplication", [1, 1, 2, 1, 1], [1, 0, 0, 1, 2], None),
    (42, "binary_multiplication", [1, 2, 1], [1, 2, 0], None),
    (43, "binary_multiplication", [0, 1], [0, 2], None),
    (44, "binary_multiplication", [0], [2], None),
    (45, "compute_sqrt", [1, 0, 0, 1, 0, 1], [1, 1, 0], None),
    (46, "compute_sqrt", [1, 1, 1], [1, 0], None),
    (47, "compute_sqrt", [0, 0, 0, 1], [0, 1], None),
    (48, "compute_sqrt", [1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0], None),
    (49, "bucket_sort", [1, 0, 2, 0, 4, 1, 1, 2], [0, 0, 1, 1, 1, 2, 2, 4], None),
]
MASKED = {"stack_manipulation", "binary_addition", "binary_multiplication"}


def _expected_mask(name: str, target: list[int]) -> list[int]:
    if name not in MASKED:
        return [1] * len(target)
    end = target.index(2)
    return [1] * (end + 1) + [0] * (len(target) - end - 1)


@pytest.mark.parametrize(("row", "name", "ids", "target", "mask"), LABELS,
                         ids=[f"{r[0]}-{r[1]}" for r in LABELS])
def test_labels_and_targets(row: int, name: str, ids: list[int], target: list[int],
                            mask: list[int] | None) -> None:
    task = tasks.get(name)
    got_targets, got_mask = task.targets(torch.tensor([ids]))
    assert got_targets.dtype == torch.int64 and got_mask.dtype == torch.bool
    assert got_targets.tolist() == [target]
    assert got_targets.shape == (1, task.output_length(len(ids)))
    expected_mask = mask if mask is not None else _expected_mask(name, target)
    assert got_mask.tolist() == [[bool(v) for v in expected_mask]]


def test_labels_batched_rows_are_independent() -> None:
    """Rows of a batch are answered independently (same answers as one row at a time)."""
    task = tasks.get("binary_addition")
    x = torch.tensor([[0, 0, 1, 2, 0, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1, 1, 2, 1]])
    got, mask = task.targets(x)
    for i in range(2):
        one, one_mask = task.targets(x[i : i + 1])
        assert torch.equal(got[i], one[0]) and torch.equal(mask[i], one_mask[0])


def test_odds_first_uses_code_order_not_docstring_order() -> None:
    task = tasks.get("odds_first")
    # The docstring example 00110101 -> 0100 0111 is the opposite (1-based odd first) order.
    got, _ = task.targets(torch.tensor([[0, 0, 1, 1, 0, 1, 0, 1]]))
    assert got.tolist() != [[0, 1, 0, 0, 0, 1, 1, 1]]


# Input lengths.
@pytest.mark.parametrize("name", tasks.names())
def test_input_shape_is_b_by_l(name: str) -> None:
    task = tasks.get(name)
    for length in (1, 2, 3, 6, 11):
        batch = task.sample_batch(3, length, seed=length)
        expected_t = length - 1 if name == "modular_arithmetic" and length % 2 == 0 else length
        assert task.input_length(length) == expected_t
        assert batch.inputs.shape == (3, expected_t)
        assert batch.inputs.dtype == torch.int64


def test_modular_arithmetic_even_length_drops_one_token() -> None:
    task = tasks.get("modular_arithmetic")
    assert task.sample_batch(4, 6, seed=0).inputs.shape == (4, 5)
    lone = task.sample_batch(8, 2, seed=0).inputs
    assert lone.shape == (8, 1) and bool((lone < 5).all())  # a lone digit
    # Lengths 2k and 2k-1 give identical distributions; with one seed, identical batches.
    even, odd = task.sample_batch(5, 8, seed=3), task.sample_batch(5, 7, seed=3)
    assert torch.equal(even.inputs, odd.inputs)


# Output shapes with B = 3, L = 5.
OUTPUT_SHAPES = {
    "stack_manipulation": (3, 6),
    "binary_addition": (3, 6),
    "binary_multiplication": (3, 5),
    "compute_sqrt": (3, 3),
    "duplicate_string": (3, 10),
    "reverse_string": (3, 5),
    "odds_first": (3, 5),
    "bucket_sort": (3, 5),
}
CLASSES = {"stack_manipulation": 3, "binary_addition": 3, "binary_multiplication": 3,
           "compute_sqrt": 2, "duplicate_string": 2, "reverse_string": 2, "odds_first": 2,
           "bucket_sort": 5}
SINGLE = ["even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation",
          "modular_arithmetic_brackets", "solve_equation", "missing_duplicate_string"]
SIZES = {  # (V, C), the table of docs/benchmark.md#the-15-tasks
    "even_pairs": (2, 2), "modular_arithmetic": (9, 5), "parity_check": (2, 2),
    "cycle_navigation": (3, 5), "stack_manipulation": (5, 3), "reverse_string": (2, 2),
    "modular_arithmetic_brackets": (11, 5), "solve_equation": (11, 5),
    "duplicate_string": (2, 2), "missing_duplicate_string": (4, 2), "odds_first": (2, 2),
    "binary_addition": (3, 3), "binary_multiplication": (3, 3), "compute_sqrt": (2, 2),
    "bucket_sort": (5, 5),
}


@pytest.mark.parametrize("name", tasks.names())
def test_output_shapes_b3_l5(name: str) -> None:
    task = tasks.get(name)
    batch = task.sample_batch(3, 5, seed=0)
    expected = OUTPUT_SHAPES.get(name, (3, 1))
    assert batch.targets.shape == expected and batch.mask.shape == expected
    assert batch.targets.dtype == torch.int64 and batch.mask.dtype == torch.bool
    assert (task.input_size, task.output_size) == SIZES[name]
    if name in CLASSES:
        assert task.output_size == CLASSES[name]
    assert task.single_output == (name in SINGLE)


@pytest.mark.parametrize("name", tasks.names())
def test_output_length_formulas(name: str) -> None:
    task = tasks.get(name)
    formulas = {"stack_manipulation": lambda t: t + 1, "binary_addition": lambda t: t + 1,
                "binary_multiplication": lambda t: t, "compute_sqrt": lambda t: (t + 1) // 2,
                "duplicate_string": lambda t: 2 * t, "reverse_string": lambda t: t,
                "odds_first": lambda t: t, "bucket_sort": lambda t: t}
    for t in range(1, 30):
        assert task.output_length(t) == formulas.get(name, lambda _: 1)(t)


# Degenerate short lengths.
def test_degenerate_solve_equation() -> None:
    task = tasks.get("solve_equation")
    for length in (1, 2):
        batch = task.sample_batch(16, length, seed=1)
        assert batch.inputs.tolist() == [[0] * length] * 16
        assert batch.targets.tolist() == [[0]] * 16
        assert task.targets(torch.zeros(2, length, dtype=torch.int64))[0].tolist() == [[0]] * 2
    batch = task.sample_batch(64, 3, seed=1)
    assert bool((batch.inputs[:, :2] == torch.tensor([9, 10])).all())
    assert torch.equal(batch.targets[:, 0], batch.inputs[:, 2])
    assert len(set(batch.targets[:, 0].tolist())) > 1


def test_degenerate_missing_duplicate_string() -> None:
    task = tasks.get("missing_duplicate_string")
    batch = task.sample_batch(8, 1, seed=0)
    assert batch.inputs.tolist() == [[1]] * 8 and batch.targets.tolist() == [[1]] * 8


def test_degenerate_binary_addition() -> None:
    task = tasks.get("binary_addition")
    batch = task.sample_batch(8, 1, seed=0)
    assert batch.inputs.tolist() == [[0]] * 8
    assert batch.targets.tolist() == [[0, 2]] * 8
    assert batch.mask.tolist() == [[True, True]] * 8
    batch = task.sample_batch(64, 2, seed=0)
    assert {tuple(r) for r in batch.inputs.tolist()} == {(0, 0), (1, 0), (0, 1)}  # n in {0,1,2}


def test_degenerate_binary_multiplication() -> None:
    task = tasks.get("binary_multiplication")
    batch = task.sample_batch(64, 1, seed=0)
    assert batch.inputs.tolist() == [[0]] * 64 and batch.targets.tolist() == [[2]] * 64
    batch = task.sample_batch(64, 2, seed=0)
    assert bool((batch.inputs != 2).all())  # no separator
    assert batch.targets.tolist() == [[0, 2]] * 64
    assert batch.mask.tolist() == [[True, True]] * 64
    for ids in ([0, 0], [1, 1], [1, 0], [2, 1]):  # any input
        assert task.targets(torch.tensor([ids]))[0].tolist() == [[0, 2]]


def test_degenerate_stack_manipulation() -> None:
    task = tasks.get("stack_manipulation")
    batch = task.sample_batch(64, 1, seed=0)
    assert bool((batch.inputs < 2).all())
    assert torch.equal(batch.targets[:, 0], batch.inputs[:, 0])
    assert bool((batch.targets[:, 1] == 2).all()) and bool(batch.mask.all())
    assert len(set(batch.inputs[:, 0].tolist())) == 2


def test_degenerate_compute_sqrt() -> None:
    task = tasks.get("compute_sqrt")
    batch = task.sample_batch(16, 1, seed=0)
    assert batch.inputs.tolist() == [[1]] * 16 and batch.targets.tolist() == [[1]] * 16


def test_degenerate_reverse_and_sqrt_are_not_single_output() -> None:
    """T_out = 1 at small L, but the targets stay (B, 1) and the tasks are sequence tasks."""
    for name, length in (("reverse_string", 1), ("compute_sqrt", 2)):
        task = tasks.get(name)
        assert task.sample_batch(2, length, seed=0).targets.shape == (2, 1)
        assert not task.single_output


# Structural invariants.
def test_solve_equation_invariants() -> None:
    task = tasks.get("solve_equation")
    for length in (3, 4, 5, 9, 17, 40, 101):
        x = task.sample_batch(64, length, seed=length).inputs
        assert bool((x[:, -2] == 10).all())
        assert bool((x[:, -1] < 5).all())
        assert bool(((x == 9).sum(dim=1) == 1).all())
        assert bool(((x == 10).sum(dim=1) == 1).all())


def test_missing_duplicate_string_invariants() -> None:
    task = tasks.get("missing_duplicate_string")
    for length in range(2, 30):
        x = task.sample_batch(32, length, seed=length).inputs
        assert bool(((x == 2).sum(dim=1) == 1).all())
        n_pad = (x == 3).sum(dim=1)
        assert bool((n_pad == length % 2).all())
        if length % 2:
            assert bool((x[:, -1] == 3).all())


def test_modular_arithmetic_brackets_invariants() -> None:
    for mult in (True, False):
        task = tasks.get("modular_arithmetic_brackets", mult=mult)
        for length in (1, 2, 3, 4, 5, 6, 7, 13, 50, 200):
            x = task.sample_batch(32, length, seed=length).inputs
            assert x.shape == (32, length)
            depth = (x == 8).long().cumsum(1) - (x == 9).long().cumsum(1)
            assert bool((depth >= 0).all()) and bool((depth[:, -1] == 0).all())
            assert not bool((x == 10).any())
            if not mult:
                assert not bool((x == 7).any())


def test_stack_manipulation_invariants() -> None:
    task = tasks.get("stack_manipulation")
    for length in range(2, 25):
        x = task.sample_batch(32, length, seed=length).inputs
        for row in x.tolist():
            k = next(i for i, s in enumerate(row) if s >= 2)
            assert 1 <= k <= length - 1  # at least one bit and at least one action
            assert all(s >= 2 for s in row[k:])


def test_binary_operands_are_nonzero_and_fill_the_length() -> None:
    for name in ("binary_addition", "binary_multiplication"):
        task = tasks.get(name)
        for length in range(3, 25):
            x = task.sample_batch(32, length, seed=length).inputs
            for row in x.tolist():
                assert row.count(2) == 1
                sep = row.index(2)
                assert 1 <= sep <= length - 2
                assert any(row[:sep]) and any(row[sep + 1 :])


def test_compute_sqrt_input_is_never_zero() -> None:
    task = tasks.get("compute_sqrt")
    for length in range(1, 12):
        x = task.sample_batch(256, length, seed=length).inputs
        assert bool((x.sum(dim=1) > 0).all())
