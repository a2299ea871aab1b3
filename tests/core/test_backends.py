"""Every backend agrees with the reference, in values and gradients."""

import pytest
import torch

from prlstm import PRLSTM

CONFIGS = [("lstm", 0), ("lstm", 1), ("lstm", 2), ("rnn", 0), ("rnn", 1), ("rnn", 2), ("gru", 0)]
LENGTHS = list(range(1, 71)) + [97, 129, 255]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _layer(cell, R, dtype, seed=0, **kw):
    torch.manual_seed(seed)
    return PRLSTM(3, 6, cell=cell, refinements=R, dtype=dtype, **kw)


def _outputs(layer, x, backend):
    layer.backend = backend
    out, state = layer(x)
    return out, state


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell,R", CONFIGS)
def test_backends_agree_all_lengths(cell, R, dtype):
    layer = _layer(cell, R, dtype)
    g = torch.Generator().manual_seed(1)
    # float64 checks every length; float32 (rounding only) a spread of them.
    for n in LENGTHS if dtype == torch.float64 else LENGTHS[::4] + LENGTHS[-3:]:
        x = torch.randn(2, n, 3, generator=g, dtype=dtype)
        ref, ref_state = _outputs(layer, x, "reference")
        for backend in ("levelwise", "chunked", "streaming"):
            out, state = _outputs(layer, x, backend)
            torch.testing.assert_close(out, ref, atol=TOL[dtype], rtol=0, msg=f"{backend} n={n}")
            torch.testing.assert_close(state.h, ref_state.h, atol=TOL[dtype], rtol=0)
            if cell == "lstm":
                torch.testing.assert_close(state.c, ref_state.c, atol=TOL[dtype], rtol=0)
            else:
                assert state.c is None


@pytest.mark.parametrize("cell,R", CONFIGS)
def test_gradients_agree(cell, R):
    layer = _layer(cell, R, torch.float64)
    for n in [1, 2, 3, 5, 8, 13, 33, 64, 71]:
        x = torch.randn(2, n, 3, dtype=torch.float64)
        w = torch.randn(2, n, 6, dtype=torch.float64)
        grads = {}
        for backend in ("reference", "levelwise", "chunked", "streaming"):
            layer.zero_grad()
            xb = x.clone().requires_grad_(True)
            out, state = _outputs(layer, xb, backend)
            ((out * w).sum() + state.h.sum()).backward()
            grads[backend] = [xb.grad] + [
                torch.zeros_like(p) if p.grad is None else p.grad.clone()
                for p in layer.parameters()
            ]
        for backend in ("levelwise", "chunked", "streaming"):
            for a, b in zip(grads[backend], grads["reference"], strict=True):
                torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell,R", [("lstm", 1), ("rnn", 1)])
def test_sequential_schedule_backends_agree(cell, R):
    layer = _layer(cell, R, torch.float64, schedule="sequential")
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    ref, _ = _outputs(layer, x, "reference")
    for backend in ("levelwise", "streaming"):
        torch.testing.assert_close(_outputs(layer, x, backend)[0], ref, atol=1e-12, rtol=0)
    # The sequential schedule is a different model from the tree beyond length 2.
    layer.schedule = "tree"
    tree, _ = _outputs(layer, x, "reference")
    torch.testing.assert_close(tree[:, :3], ref[:, :3])
    assert not torch.allclose(tree[:, 3:], ref[:, 3:])
