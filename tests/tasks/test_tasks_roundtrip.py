"""Round trips ``targets(sample.inputs) == (sample.targets, sample.mask)`` for all 15 tasks at
lengths 1..200, checked against slow independent oracles; batch structure; seed determinism."""

from __future__ import annotations

import pytest
import torch

from prlstm import tasks

from .task_oracles import ORACLES

LENGTHS = list(range(1, 41)) + list(range(43, 200, 12)) + [200]
MASKED = {"stack_manipulation", "binary_addition", "binary_multiplication"}


def check_batch(task: tasks.Task, batch: tasks.Batch, length: int) -> None:
    """Shapes, dtypes, value ranges, mask structure, and agreement with targets() and oracle."""
    b = batch.inputs.shape[0]
    t = task.input_length(length)
    t_out = task.output_length(t)
    assert batch.inputs.shape == (b, t) and batch.inputs.dtype == torch.int64
    assert batch.targets.shape == (b, t_out) and batch.targets.dtype == torch.int64
    assert batch.mask.shape == (b, t_out) and batch.mask.dtype == torch.bool
    assert 0 <= int(batch.inputs.min()) and int(batch.inputs.max()) < task.input_size
    assert 0 <= int(batch.targets.min()) and int(batch.targets.max()) < task.output_size
    if task.name in MASKED:
        # Exactly one terminator; mask up to and including it; padding 0 after it.
        assert bool(((batch.targets == 2).sum(dim=1) == 1).all())
        end = (batch.targets == 2).long().argmax(dim=1, keepdim=True)
        positions = torch.arange(t_out).unsqueeze(0)
        assert torch.equal(batch.mask, positions <= end)
        assert bool((batch.targets[positions > end] == 0).all())
    else:
        assert bool(batch.mask.all())
    targets, mask = task.targets(batch.inputs)
    assert torch.equal(targets, batch.targets) and torch.equal(mask, batch.mask)
    oracle = ORACLES[task.name]
    for row, target_row, mask_row in zip(batch.inputs.tolist(), batch.targets.tolist(),
                                         batch.mask.tolist(), strict=True):
        assert oracle(task, row) == (target_row, mask_row), (task.decode(row), target_row)


@pytest.mark.parametrize("name", tasks.names())
def test_round_trip_all_lengths(name: str) -> None:
    task = tasks.get(name)
    for length in LENGTHS:
        batch_size = 8 if length <= 40 else 3
        for seed in (length, 1000 + length, 2000 + length):
            check_batch(task, task.sample_batch(batch_size, length, seed=seed), length)


@pytest.mark.parametrize(("name", "options"), [
    ("modular_arithmetic", {"modulus": 7}),
    ("modular_arithmetic", {"modulus": 3, "operators": "+*"}),
    ("modular_arithmetic_brackets", {"mult": False}),
    ("modular_arithmetic_brackets", {"modulus": 7}),
    ("solve_equation", {"modulus": 7}),
    ("bucket_sort", {"vocab_size": 3}),
    ("reverse_string", {"vocab_size": 4}),
    ("duplicate_string", {"vocab_size": 3}),
    ("odds_first", {"vocab_size": 10}),
])
def test_round_trip_with_options(name: str, options: dict[str, object]) -> None:
    task = tasks.get(name, **options)
    for length in (1, 2, 3, 4, 5, 8, 13, 31, 60):
        check_batch(task, task.sample_batch(8, length, seed=length), length)


def test_brackets_without_mult_never_uses_times() -> None:
    x = tasks.get("modular_arithmetic_brackets", mult=False).sample_batch(64, 60, seed=0).inputs
    assert not bool((x == 7).any())


def test_modular_arithmetic_operator_subset() -> None:
    x = tasks.get("modular_arithmetic", operators="*").sample_batch(16, 21, seed=0).inputs
    assert bool((x[:, 1::2] == 7).all())


@pytest.mark.parametrize("name", tasks.names())
def test_same_seed_same_batch(name: str) -> None:
    task = tasks.get(name)
    for length in (1, 5, 33):
        first = task.sample_batch(7, length, seed=123)
        second = tasks.get(name).sample_batch(7, length, seed=123)
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", tasks.names())
def test_different_seeds_different_batches(name: str) -> None:
    task = tasks.get(name)
    a = task.sample_batch(8, 30, seed=1).inputs
    b = task.sample_batch(8, 30, seed=2).inputs
    assert not torch.equal(a, b)


@pytest.mark.parametrize("name", tasks.names())
def test_generator_argument(name: str) -> None:
    task = tasks.get(name)
    # seed=s is the same as a fresh generator seeded with s.
    by_seed = task.sample_batch(5, 12, seed=9)
    by_gen = task.sample_batch(5, 12, generator=torch.Generator().manual_seed(9))
    assert torch.equal(by_seed.inputs, by_gen.inputs)
    # A caller's generator advances: two draws differ, and replaying the generator repeats them.
    gen = torch.Generator().manual_seed(4)
    one = task.sample_batch(5, 30, generator=gen).inputs
    two = task.sample_batch(5, 30, generator=gen).inputs
    assert not torch.equal(one, two)
    gen.manual_seed(4)
    assert torch.equal(task.sample_batch(5, 30, generator=gen).inputs, one)


def test_unseeded_calls_differ() -> None:
    task = tasks.get("parity_check")
    assert not torch.equal(task.sample_batch(4, 64).inputs, task.sample_batch(4, 64).inputs)


def test_targets_does_not_modify_inputs_and_keeps_device() -> None:
    task = tasks.get("modular_arithmetic")
    batch = task.sample_batch(4, 9, seed=0)
    before = batch.inputs.clone()
    targets, mask = task.targets(batch.inputs)
    assert torch.equal(batch.inputs, before)
    assert targets.device == batch.inputs.device and mask.device == batch.inputs.device


def test_targets_accepts_other_integer_dtypes() -> None:
    task = tasks.get("bucket_sort")
    x = torch.tensor([[3, 1, 2]], dtype=torch.int32)
    assert task.targets(x)[0].tolist() == [[1, 2, 3]]
    assert task.targets(x)[0].dtype == torch.int64


def test_batch_to() -> None:
    batch = tasks.get("parity_check").sample_batch(2, 3, seed=0)
    moved = batch.to("cpu")
    assert isinstance(moved, tasks.Batch) and torch.equal(moved.inputs, batch.inputs)
