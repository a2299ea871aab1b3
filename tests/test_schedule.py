"""The tree schedule as index math (prlstm.schedule)."""

import pytest

from prlstm import schedule


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


@pytest.mark.parametrize("k", range(1, 10))
def test_scan_combines_power_of_two(k):
    n = 2**k
    assert schedule.scan_combines(n) == 2 * n - 2 - k
