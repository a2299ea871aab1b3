import math

import pytest
import torch

from prlstm import schedule
from prlstm.ops import chunked, levelwise, reference, streaming

from .helpers import associative_scan


def test_prefix_blocks_examples():
    assert schedule.prefix_blocks(0) == [(0, 1)]
    assert schedule.prefix_blocks(12) == [(0, 8), (8, 4), (12, 1)]
    assert schedule.prefix_blocks(7) == [(0, 8)]
    assert schedule.stack_blocks(0) == []
    assert schedule.stack_blocks(6) == [(0, 4), (4, 2)]


def test_bracketing_matches_model_md_examples():
    assert schedule.bracketing(2) == "(x0+x1)+x2"
    assert schedule.bracketing(5) == "((x0+x1)+(x2+x3))+(x4+x5)"
    assert schedule.bracketing(0) == "x0"
    assert schedule.bracketing(3) == "(x0+x1)+(x2+x3)"


def _bracket(a: str, b: str) -> str:
    return f"({a}+{b})"


@pytest.mark.parametrize("n", range(1, 40))
def test_string_cell_reference_and_jax_recursion_agree(n):
    leaves = [f"x{j}" for j in range(n)]
    ref = reference.prefix_states(_bracket, leaves)
    assert ref == associative_scan(_bracket, leaves)
    for t in range(n):
        assert ref[t].removeprefix("(").removesuffix(")") == schedule.bracketing(t) or (
            ref[t] == schedule.bracketing(t)
        )


@pytest.mark.parametrize("k", range(1, 10))
def test_scan_combines_power_of_two(k):
    n = 2**k
    assert schedule.scan_combines(n) == 2 * n - 2 - k


class Counter:
    """A counting 'cell' on tensors: adds, and counts how many rows it combined."""

    def __init__(self) -> None:
        self.rows = 0
        self.calls = 0

    def __call__(self, left, right):
        self.calls += 1
        self.rows += left[0].shape[0] * (left[0].shape[1] if left[0].dim() == 3 else 1)
        return (left[0] * 3 + right[0] * 7,)


def _hash_leaves(n: int) -> tuple[torch.Tensor]:
    return (torch.arange(1, n + 1, dtype=torch.int64).reshape(1, n, 1) * 1_000_003,)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 31, 64, 100, 128])
def test_levelwise_counts_and_rounds(n):
    c = Counter()
    levelwise.scan(c, _hash_leaves(n))
    assert c.rows == schedule.scan_combines(n)
    levels = schedule.num_levels(n)
    assert c.calls <= 2 * levels  # one batched call per round
    if n & (n - 1) == 0 and n > 1:
        assert c.rows == 2 * n - 2 - int(math.log2(n))


@pytest.mark.parametrize("n", list(range(1, 70)) + [127, 255, 257])
def test_levelwise_bracketing_is_exact(n):
    # A non-associative integer combine: any change of bracketing changes the numbers.
    def combine(a, b):
        return (a[0] * 31 + b[0] * 17 + 5,)

    leaves = _hash_leaves(n)
    ref = reference.scan(combine, leaves)[0]
    assert torch.equal(levelwise.scan(combine, leaves)[0], ref)
    assert torch.equal(streaming.scan(combine, leaves)[0], ref)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 13, 64, 100])
def test_final_state_uses_n_minus_one_combines(n):
    c = Counter()
    roots = levelwise.upsweep(c, _hash_leaves(n))
    levelwise.fold_final(c, roots, torch.tensor([n]))
    assert c.rows == n - 1 == schedule.final_state_combines(n)


def test_streaming_amortised_two_combines_and_log_memory():
    c = Counter()
    stack = ()
    n = 1000
    for t in range(n):
        _, stack = streaming.push(c, stack, (torch.ones(1, 1, dtype=torch.int64),))
        assert len(stack) == bin(t + 1).count("1") <= math.log2(t + 1) + 1
    assert c.rows <= 2 * n
    # merges: trailing zeros of t + 1; one fold combine unless t + 1 is a power of two
    merges = sum((t + 1 & -(t + 1)).bit_length() - 1 for t in range(n))
    folds = sum(1 for t in range(n) if bin(t + 1).count("1") > 1)
    assert c.rows == merges + folds


@pytest.mark.parametrize("chunk", [1, 2, 4, 8, 16])
def test_chunked_bracketing_is_exact(chunk):
    def combine(a, b):
        return (a[0] * 31 + b[0] * 17 + 5,)

    for n in list(range(1, 70)) + [127, 128, 129]:
        leaves = (torch.arange(1, 2 * n + 1, dtype=torch.int64).reshape(2, n, 1) * 1_000_003,)
        ref = reference.scan(combine, leaves)[0]
        assert torch.equal(chunked.scan(combine, leaves, chunk=chunk)[0], ref), n


@pytest.mark.parametrize("chunk", [2, 8])
@pytest.mark.parametrize("n", [8, 16, 96, 128])
def test_chunked_does_the_same_combines(chunk, n):
    c = Counter()
    chunked.scan(c, _hash_leaves(n), chunk=chunk)
    assert c.rows == schedule.scan_combines(n)


def test_chunked_rejects_bad_chunk():
    with pytest.raises(ValueError, match="chunk must be a power of two"):
        chunked.scan(lambda a, b: a, _hash_leaves(4), chunk=3)
