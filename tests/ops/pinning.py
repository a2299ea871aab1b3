"""Shared pins for the scan backends: every path of one backend against ``reference``.

Two kinds: exact ones with a non-associative integer combine (any other bracketing changes
the numbers), for the op's outputs and the stream stacks it hands over; and float64 ones
through :class:`prlstm.PRLSTM` with ``backend=``, for values and every gradient of every
path (forward, lengths, final_state, prefill, continuation, step, ``hx``).
"""

from __future__ import annotations

import pytest
import torch

from prlstm import PRLSTM
from prlstm.ops import reference, stacks
from prlstm.ops.api import ScanBackend
from prlstm.ops.stacks import RaggedStack


def int_combine(a, b):
    """Non-associative on int64 states: ``31 a + 17 b + 5``."""
    return tuple(x * 31 + y * 17 + 5 for x, y in zip(a, b, strict=True))


def int_leaves(B: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct int64 leaves ``(B, n, 1)``, a two-tensor state."""
    base = torch.arange(1, B * n + 1, dtype=torch.int64).reshape(B, n, 1) * 1_000_003
    return base, base * 7 + 3


def same_stack(got, want) -> None:
    """Two stacks hold the same blocks and numbers (ragged: the slots of set bits)."""
    if isinstance(want, RaggedStack):
        assert isinstance(got, RaggedStack)
        assert torch.equal(got.positions, want.positions)
        for k in range(want.roots[0].shape[1]):
            has = ((want.positions >> k) & 1) == 1
            for g, w in zip((*got.roots, *got.folds), (*want.roots, *want.folds), strict=True):
                assert torch.equal(g[has, k], w[has, k]), k
        return
    assert [e.size for e in got] == [e.size for e in want]
    for g, w in zip(got, want, strict=True):
        for a, b in zip((*g.root, *g.fold), (*w.root, *w.fold), strict=True):
            assert torch.equal(a, b)


def check_exact_paths(backend: ScanBackend, n: int) -> None:
    """Outputs, stacks, final states and continuations of ``backend`` equal the reference's
    exactly for length ``n`` (integer combine)."""
    leaves = int_leaves(2, n)
    ref, ref_stack = reference.scan(int_combine, leaves, return_state=True)
    out, _ = backend.scan(int_combine, leaves)
    assert all(torch.equal(a, b) for a, b in zip(out, ref, strict=True))
    out, stack = backend.scan(int_combine, leaves, return_state=True)
    assert all(torch.equal(a, b) for a, b in zip(out, ref, strict=True))
    same_stack(stack, ref_stack)
    _, final = backend.scan(int_combine, leaves, return_outputs=False, return_state=True)
    same_stack(final, ref_stack)
    lengths = torch.tensor([n, max(1, n // 2 + 1)])
    _, ragged = backend.scan(int_combine, leaves, lengths=lengths, return_state=True)
    _, want = reference.scan(int_combine, leaves, lengths=lengths, return_state=True)
    same_stack(ragged, want)
    _, final = backend.scan(int_combine, leaves, lengths=lengths, return_outputs=False,
                            return_state=True)
    for a, b in zip(stacks.last(final), stacks.last(want), strict=True):
        assert torch.equal(a, b)
    for t0 in {1, n // 2, n - 1} - {0, n}:
        _, head = backend.scan(int_combine, tuple(s[:, :t0] for s in leaves), return_state=True)
        tail, after = backend.scan(int_combine, tuple(s[:, t0:] for s in leaves), state=head,
                                   return_state=True)
        assert all(torch.equal(a, b[:, t0:]) for a, b in zip(tail, ref, strict=True)), t0
        same_stack(after, ref_stack)


def _layer(cell: str, R: int, schedule: str, dtype: torch.dtype, **kw) -> PRLSTM:
    torch.manual_seed(0)
    return PRLSTM(3, 5, cell=cell, refinements=R, num_layers=2, schedule=schedule,
                  dtype=dtype, **kw)


def _paths(layer: PRLSTM, x: torch.Tensor) -> list[torch.Tensor]:
    """Every path's outputs on ``x`` ``(3, 13, 3)``, in a fixed order."""
    lengths = torch.tensor([13, 6, 1])
    out, st = layer(x)
    got = [out, st.h, layer(x, lengths=lengths)[0], layer.final_state(x).h,
           layer.final_state(x, lengths=lengths).h]
    pre, s = layer.prefill(x[:, :5])
    mid, s = layer.prefill(x[:, 5:11], state=s)
    got += [pre, mid, layer(x[:, 5:11], hx=layer.prefill(x[:, :5])[1])[0]]
    for t in range(11, 13):
        y, s = layer.step(x[:, t], s)
        got.append(y)
    ragged, r = layer.prefill(x[:, :9], lengths=[9, 4, 2])
    got += [ragged, layer.step(x[:, 9], r)[0], layer.prefill(x[:, 9:12], state=r)[0]]
    h0 = layer.final_state(x[:, :4])
    got.append(layer(x[:, 4:], hx=h0)[0])
    if layer.cell == "lstm":
        got += [st.c, layer.final_state(x, lengths=lengths).c]
    return got


def check_layer_paths(backend: str, cell: str, R: int, schedule: str = "tree",
                      tol: float = 1e-10, dtype: torch.dtype = torch.float64) -> None:
    """Values and the gradients (input and every parameter) of every path on ``backend``
    equal ``reference``'s (float64 unless ``dtype``)."""
    layer = _layer(cell, R, schedule, dtype)
    x = torch.randn(3, 13, 3, dtype=dtype, generator=torch.Generator().manual_seed(2))
    results = {}
    for name in ("reference", backend):
        layer.backend = name
        xb = x.clone().requires_grad_(True)
        outs = _paths(layer, xb)
        g = torch.Generator().manual_seed(3)
        loss = sum((o * torch.randn(o.shape, dtype=o.dtype, generator=g)).sum() for o in outs)
        layer.zero_grad()
        loss.backward()
        grads = [xb.grad] + [torch.zeros_like(p) if p.grad is None else p.grad
                             for p in layer.parameters()]
        results[name] = ([o.detach() for o in outs], grads)
    for i, (a, b) in enumerate(zip(results[backend][0], results["reference"][0], strict=True)):
        torch.testing.assert_close(a, b, atol=tol, rtol=0, msg=lambda m, i=i: f"path {i}: {m}")
    for i, (a, b) in enumerate(zip(results[backend][1], results["reference"][1], strict=True)):
        torch.testing.assert_close(a, b, atol=tol, rtol=0, msg=lambda m, i=i: f"grad {i}: {m}")


CONFIGS = [("lstm", 0), ("lstm", 1), ("lstm", 2), ("rnn", 0), ("rnn", 1), ("rnn", 2), ("gru", 0)]
LENGTHS = list(range(1, 71)) + [97, 129, 255]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _small(cell: str, R: int, dtype: torch.dtype, **kw) -> PRLSTM:
    torch.manual_seed(0)
    return PRLSTM(3, 6, cell=cell, refinements=R, dtype=dtype, **kw)


def check_all_lengths(backend: str, cell: str, R: int, dtype: torch.dtype) -> None:
    """Forward values and final states equal ``reference``'s at every length (float64; a
    spread of them in float32, rounding only)."""
    layer = _small(cell, R, dtype)
    g = torch.Generator().manual_seed(1)
    for n in LENGTHS if dtype == torch.float64 else LENGTHS[::4] + LENGTHS[-3:]:
        x = torch.randn(2, n, 3, generator=g, dtype=dtype)
        layer.backend = "reference"
        ref, ref_state = layer(x)
        layer.backend = backend
        out, state = layer(x)
        torch.testing.assert_close(out, ref, atol=TOL[dtype], rtol=0, msg=f"{backend} n={n}")
        torch.testing.assert_close(state.h, ref_state.h, atol=TOL[dtype], rtol=0)
        if cell == "lstm":
            torch.testing.assert_close(state.c, ref_state.c, atol=TOL[dtype], rtol=0)
        else:
            assert state.c is None


def check_gradients(backend: str, cell: str, R: int) -> None:
    """Gradients of the input and every parameter equal ``reference``'s (float64)."""
    layer = _small(cell, R, torch.float64)
    for n in [1, 2, 3, 5, 8, 13, 33, 64, 71]:
        x = torch.randn(2, n, 3, dtype=torch.float64)
        w = torch.randn(2, n, 6, dtype=torch.float64)
        grads = {}
        for name in ("reference", backend):
            layer.zero_grad()
            layer.backend = name
            xb = x.clone().requires_grad_(True)
            out, state = layer(xb)
            ((out * w).sum() + state.h.sum()).backward()
            grads[name] = [xb.grad] + [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                                       for p in layer.parameters()]
        for a, b in zip(grads[backend], grads["reference"], strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


# The layer-path pins per cell; lstm and gru take a few seconds each on a shared CPU.
PATH_CELLS = [pytest.param("lstm", 1, marks=pytest.mark.slow), ("rnn", 0),
              pytest.param("gru", 0, marks=pytest.mark.slow)]


class LayerPinning:
    """The layer-level pins every fast backend passes; a test file subclasses it as
    ``class TestX(LayerPinning): backend = "x"`` (its own op-level tests stay beside it)."""

    backend = ""

    @pytest.mark.parametrize("schedule_", ["tree", "sequential"])
    @pytest.mark.parametrize("cell,R", PATH_CELLS)
    def test_layer_paths_match_reference(self, cell, R, schedule_):
        check_layer_paths(self.backend, cell, R, schedule_)

    @pytest.mark.slow
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("cell,R", CONFIGS)
    def test_values_all_lengths(self, cell, R, dtype):
        check_all_lengths(self.backend, cell, R, dtype)

    @pytest.mark.slow
    @pytest.mark.parametrize("cell,R", CONFIGS)
    def test_gradients(self, cell, R):
        check_gradients(self.backend, cell, R)
