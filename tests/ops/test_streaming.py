"""``prlstm.ops.streaming`` (and the binary-counter push) against ``reference``."""

import math

import pytest
import torch

from prlstm.ops import push, reference, streaming

from .pinning import (
    LayerPinning,
    check_exact_paths,
    int_combine,
)
from .test_levelwise import Counter, hash_leaves


@pytest.mark.parametrize("n", list(range(1, 70)) + [127, 255, 257])
def test_bracketing_is_exact(n):
    leaves = hash_leaves(n)
    ref = reference.scan(int_combine, leaves)[0][0]
    assert torch.equal(streaming.scan(int_combine, leaves)[0][0], ref)


def test_amortised_two_combines_and_log_memory():
    c = Counter()
    stack = ()
    n = 1000
    for t in range(n):
        _, stack = push.push(c, stack, (torch.ones(1, 1, dtype=torch.int64),))
        assert len(stack) == bin(t + 1).count("1") <= math.log2(t + 1) + 1
    assert c.rows <= 2 * n
    # merges: trailing zeros of t + 1; one fold combine unless t + 1 is a power of two
    merges = sum((t + 1 & -(t + 1)).bit_length() - 1 for t in range(n))
    folds = sum(1 for t in range(n) if bin(t + 1).count("1") > 1)
    assert c.rows == merges + folds


def test_exact_paths():
    for n in list(range(1, 34)) + [64, 65, 100]:
        check_exact_paths(streaming.BACKEND, n)



class TestStreamingLayer(LayerPinning):
    backend = "streaming"
