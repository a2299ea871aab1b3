"""``prlstm.ops.reference``: the definition against independent oracles (the JAX odd/even
recursion, the schedule's bracketing strings), its continuation against its full pass, and
the ``sequential`` schedule."""

import pytest
import torch

from prlstm import PRLSTM, schedule
from prlstm.ops import reference
from tests.helpers import associative_scan

from .pinning import check_exact_paths, int_combine, int_leaves


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


def test_exact_paths():
    for n in list(range(1, 34)) + [64, 65]:
        check_exact_paths(reference.BACKEND, n)


def test_continuation_is_the_definition_at_absolute_positions():
    leaves = int_leaves(1, 40)
    want = reference.prefix_states(int_combine, [tuple(s[:, t] for s in leaves)
                                                 for t in range(40)])
    for t0 in (1, 3, 8, 13, 32):
        _, stack = reference.scan(int_combine, tuple(s[:, :t0] for s in leaves),
                                  return_state=True)
        out, _ = reference.scan(int_combine, tuple(s[:, t0:] for s in leaves), state=stack)
        for t in range(t0, 40):
            assert all(torch.equal(a[:, t - t0], b) for a, b in zip(out, want[t], strict=True))


def test_missing_old_block_is_refused():
    roots = reference._Roots(int_combine, [None], t0=1)
    with pytest.raises(ValueError, match=r"block \(0, 1\) lies before t0=1"):
        roots(0, 1)


@pytest.mark.slow
@pytest.mark.parametrize("cell,R", [("lstm", 1), ("rnn", 1)])
def test_sequential_schedule_backends_agree(cell, R):
    torch.manual_seed(0)
    layer = PRLSTM(3, 6, cell=cell, refinements=R, dtype=torch.float64, schedule="sequential",
                   backend="reference")
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    ref, _ = layer(x)
    for backend in ("levelwise", "chunked", "streaming"):
        layer.backend = backend
        torch.testing.assert_close(layer(x)[0], ref, atol=1e-12, rtol=0)
    # The sequential schedule is a different model from the tree beyond length 2.
    layer.schedule, layer.backend = "tree", "reference"
    tree, _ = layer(x)
    torch.testing.assert_close(tree[:, :3], ref[:, :3])
    assert not torch.allclose(tree[:, 3:], ref[:, 3:])
