"""``prlstm.ops.levelwise`` against ``reference``: exact bracketing, combine counts, every
path of the scan op and of the layer, values and gradients."""

import math

import pytest
import torch

from prlstm import schedule
from prlstm.ops import levelwise, reference

from .pinning import (
    LayerPinning,
    check_exact_paths,
    int_combine,
)


class Counter:
    """A counting 'cell' on tensors: adds, and counts how many rows it combined."""

    def __init__(self) -> None:
        self.rows = 0
        self.calls = 0

    def __call__(self, left, right):
        self.calls += 1
        self.rows += left[0].shape[0] * (left[0].shape[1] if left[0].dim() == 3 else 1)
        return (left[0] * 3 + right[0] * 7,)


def hash_leaves(n: int) -> tuple[torch.Tensor]:
    return (torch.arange(1, n + 1, dtype=torch.int64).reshape(1, n, 1) * 1_000_003,)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 31, 64, 100, 128])
def test_counts_and_rounds(n):
    c = Counter()
    levelwise.scan(c, hash_leaves(n))
    assert c.rows == schedule.scan_combines(n)
    assert c.calls <= 2 * schedule.num_levels(n)  # one batched call per round
    if n & (n - 1) == 0 and n > 1:
        assert c.rows == 2 * n - 2 - int(math.log2(n))


@pytest.mark.parametrize("n", list(range(1, 70)) + [127, 255, 257])
def test_bracketing_is_exact(n):
    leaves = hash_leaves(n)
    ref = reference.scan(int_combine, leaves)[0][0]
    assert torch.equal(levelwise.scan(int_combine, leaves)[0][0], ref)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 13, 64, 100])
def test_final_state_uses_n_minus_one_combines(n):
    c = Counter()
    roots = levelwise.upsweep(c, hash_leaves(n))
    levelwise.fold_final(c, roots, torch.tensor([n]))
    assert c.rows == n - 1 == schedule.final_state_combines(n)
    c = Counter()
    levelwise.scan(c, hash_leaves(n), return_outputs=False, return_state=True)
    assert c.rows == n - 1


def test_continuation_rounds_are_logarithmic():
    c = Counter()
    _, stack = levelwise.scan(c, hash_leaves(77), return_state=True)
    c.calls = 0
    levelwise.scan(c, hash_leaves(1023), state=stack)
    assert c.calls <= 2 * math.ceil(math.log2(1100))


def test_exact_paths():
    for n in list(range(1, 34)) + [64, 65, 100]:
        check_exact_paths(levelwise.BACKEND, n)



class TestLevelwiseLayer(LayerPinning):
    backend = "levelwise"
