"""Invariants of PRLSTM on random layers, shapes, lengths and dtypes (hypothesis).

Every property compares the layer with itself: another backend, another evaluation mode
(streaming, prefill + step, final_state), another padding, another suffix. Constructor
arguments come from :func:`strategies.layer_kwargs` (one axis per argument), tolerances per
dtype from :data:`strategies.TOLERANCES`.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.properties.strategies import (
    DTYPES,
    LENGTHS,
    SEEDS,
    close,
    examples,
    layer_kwargs,
    make_layer,
    randn,
)

FAST = ("levelwise", "chunked")
BATCH = st.integers(1, 4)


def _states(state) -> list[torch.Tensor]:
    return [state.h] if state.c is None else [state.h, state.c]


# The reference backend and streaming loop over positions in Python (~1.4 s of CPU at
# T = 1025): this property uses lengths up to 200; the long ones are covered by the
# vectorised properties below and by test_long_inputs.py.
SHORT = st.one_of(st.integers(1, 200), st.sampled_from([63, 64, 65, 127, 128, 129]))


@pytest.mark.slow
@examples(15)
@given(kw=layer_kwargs(), B=BATCH, T=SHORT, dtype=DTYPES, seed=SEEDS, data=st.data())
def test_every_evaluation_path_agrees(kw, B, T, dtype, seed, data):
    """forward (each backend) = reference = streaming = prefill + step = final_state."""
    layer = make_layer({**kw, "backend": "reference"}, seed, dtype)
    x = randn(seed + 1, B, T, 3, dtype=dtype)
    with torch.no_grad():
        ref, ref_state = layer(x)  # (B, T, H), (L, B, H)
        # the returned state is the last position's, for every layer's h (and c)
        close(ref_state.h[-1], ref[:, -1], dtype, "state.h[-1] vs output[:, -1]")
        for backend in FAST:
            layer.backend = backend
            out, state = layer(x)
            close(out, ref, dtype, f"{backend} output")
            for a, b in zip(_states(state), _states(ref_state), strict=True):
                close(a, b, dtype, f"{backend} state")
            for a, b in zip(_states(layer.final_state(x)), _states(ref_state), strict=True):
                close(a, b, dtype, f"{backend} final_state")
        stream = layer.init_stream(B)
        for t in range(T):
            y, stream = layer.step(x[:, t], stream)
            close(y, ref[:, t], dtype, f"step at t={t}")
        p = data.draw(st.integers(1, T), label="prefill length")
        pre, stream = layer.prefill(x[:, :p])
        close(pre, ref[:, :p], dtype, "prefill output")
        for t in range(p, T):
            y, stream = layer.step(x[:, t], stream)
            close(y, ref[:, t], dtype, f"step after prefill({p}) at t={t}")
        assert stream.t == T


@examples(25)
@given(kw=layer_kwargs(), B=BATCH, T=LENGTHS, dtype=DTYPES, seed=SEEDS,
       backend=st.sampled_from(FAST), data=st.data())
@pytest.mark.slow
def test_causal(kw, B, T, dtype, seed, backend, data):
    """Outputs up to t never depend on later tokens (bit-exact), nor on the total length."""
    layer = make_layer({**kw, "backend": backend}, seed, dtype)
    x = randn(seed + 1, B, T, 3, dtype=dtype)
    t = data.draw(st.integers(0, T - 1), label="t")
    y = x.clone()
    y[:, t + 1:] = randn(seed + 2, B, T - t - 1, 3, dtype=dtype, scale=10.0)
    with torch.no_grad():
        out = layer(x)[0]
        torch.testing.assert_close(layer(y)[0][:, : t + 1], out[:, : t + 1], atol=0, rtol=0)
        close(layer(x[:, : t + 1])[0], out[:, : t + 1], dtype, "prefix alone")


PADDING = st.sampled_from(["large", "zeros", "nan", "inf"])


def _pad(kind: str, seed: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    if kind == "large":
        return randn(seed, *shape, dtype=dtype, scale=1e3)
    value = {"zeros": 0.0, "nan": float("nan"), "inf": float("inf")}[kind]
    return torch.full(shape, value, dtype=dtype)


@examples(25)
@given(kw=layer_kwargs(), T=LENGTHS, dtype=DTYPES, seed=SEEDS, padding=PADDING,
       backend=st.sampled_from(FAST), data=st.data())
@pytest.mark.slow
def test_right_padding_never_changes_valid_outputs(kw, T, dtype, seed, padding, backend, data):
    """Each padded sequence gives the outputs and final state it gives alone; padding is 0."""
    lengths = data.draw(st.lists(st.integers(1, T), min_size=1, max_size=4), label="lengths")
    B = len(lengths)
    layer = make_layer({**kw, "backend": backend}, seed, dtype)
    x = randn(seed + 1, B, T, 3, dtype=dtype)
    for i, n in enumerate(lengths):
        x[i, n:] = _pad(padding, seed + 2 + i, (T - n, 3), dtype)
    lens = torch.tensor(lengths)
    with torch.no_grad():
        out, state = layer(x, lengths=lens)
        final = layer.final_state(x, lengths=lengths)
        for i, n in enumerate(lengths):
            alone, alone_state = layer(x[i: i + 1, :n])
            close(out[i, :n], alone[0], dtype, f"row {i} (length {n})")
            assert torch.all(out[i, n:] == 0), f"row {i}: padded outputs are not zero"
            for a, f, b in zip(_states(state), _states(final), _states(alone_state),
                               strict=True):
                close(a[:, i], b[:, 0], dtype, f"row {i} forward state")
                close(f[:, i], b[:, 0], dtype, f"row {i} final_state")


@examples(25)
@given(kw=layer_kwargs(), B=BATCH, T=st.integers(1, 80), seed=SEEDS,
       backend=st.sampled_from(FAST), with_lengths=st.booleans(), data=st.data())
@pytest.mark.slow
def test_fast_backend_gradients_equal_reference(kw, B, T, seed, backend, with_lengths, data):
    """d(loss)/d(inputs, parameters) of levelwise/chunked = reference's (float64)."""
    layer = make_layer({**kw, "backend": "reference"}, seed, torch.float64)
    x0 = randn(seed + 1, B, T, 3)
    w = randn(seed + 2, B, T, layer.hidden_size)
    lengths = (data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B), label="lengths")
               if with_lengths else None)

    def grads(name: str) -> list[torch.Tensor]:
        layer.backend = name
        layer.zero_grad(set_to_none=True)
        x = x0.clone().requires_grad_(True)
        out, state = layer(x, lengths=lengths)
        loss = (out * w).sum() + sum(s.square().sum() for s in _states(state))
        loss.backward()
        return [x.grad, *(torch.zeros_like(p) if p.grad is None else p.grad
                          for p in layer.parameters())]

    expected = grads("reference")
    for i, (a, b) in enumerate(zip(grads(backend), expected, strict=True)):
        close(a, b, torch.float64, f"{backend} gradient #{i}")


@examples(20)
@given(kw=layer_kwargs(), T=LENGTHS, seed=SEEDS)
def test_batch_rows_are_independent(kw, T, seed):
    """A sequence's outputs do not depend on the other sequences of its batch."""
    assume(T <= 300)
    layer = make_layer(kw, seed, torch.float64)
    x = randn(seed + 1, 3, T, 3)
    with torch.no_grad():
        out = layer(x)[0]
        close(layer(x[1:2])[0][0], out[1], torch.float64, "row alone")
