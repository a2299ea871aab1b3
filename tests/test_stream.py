"""Ragged streams (rows at different positions) and chunk continuation (prefill(state=...))."""

import math

import pytest
import torch

from prlstm import PRLSTM

CELLS = [("lstm", 0), ("lstm", 1), ("lstm", 2), ("rnn", 0), ("rnn", 1), ("rnn", 2), ("gru", 0)]


def _layer(cell="lstm", R=1, **kw):
    torch.manual_seed(0)
    return PRLSTM(3, 6, cell=cell, refinements=R, num_layers=2, dtype=torch.float64, **kw)


def _count_combines(layer):
    calls = []
    for cell in layer.layers:
        fn = cell.combine

        def counted(left, right, fn=fn):
            calls.append(left[0].shape[0])
            return fn(left, right)

        cell.combine = counted
    return calls


@pytest.mark.parametrize("schedule", ["tree", "sequential"])
@pytest.mark.parametrize("cell,R", CELLS)
def test_ragged_prefill_then_step_equals_each_row_alone(cell, R, schedule):
    layer = _layer(cell, R, schedule=schedule)
    lengths = [1, 2, 3, 7, 8, 9, 16, 31]  # crosses powers of two; every row a different length
    T, extra = max(lengths), 18  # stepping crosses 16 and 32 for several rows
    x = torch.randn(len(lengths), T + extra, 3, dtype=torch.float64)
    alone = layer(x)[0]  # row b's outputs when run on its own (forward is row-independent)
    padded = x[:, :T].clone()
    for b, n in enumerate(lengths):
        padded[b, n:] = 1e3 * torch.randn(T - n, 3)  # garbage padding must not matter
    out, state = layer.prefill(padded, lengths=lengths)
    assert state.ragged and state.lengths.tolist() == lengths and state.t == T
    for b, n in enumerate(lengths):
        torch.testing.assert_close(out[b, :n], alone[b, :n], atol=1e-12, rtol=0)
        assert torch.all(out[b, n:] == 0)
    for i in range(extra):
        x_t = torch.stack([x[b, n + i] for b, n in enumerate(lengths)])
        y, state = layer.step(x_t, state)
        for b, n in enumerate(lengths):
            torch.testing.assert_close(y[b], alone[b, n + i], atol=1e-12, rtol=0)
    assert state.lengths.tolist() == [n + extra for n in lengths]


def test_ragged_step_uses_log_many_batched_combines():
    layer = _layer("lstm", 1)
    lengths = list(range(1, 65))  # 64 distinct positions in one batch
    x = torch.randn(64, 64, 3, dtype=torch.float64)
    _, state = layer.prefill(x, lengths=lengths)
    calls = _count_combines(layer)
    for _ in range(5):
        calls.clear()
        _, state = layer.step(torch.randn(64, 3, dtype=torch.float64), state)
        t = int(state.lengths.max())
        assert len(calls) <= 2 * (math.floor(math.log2(t)) + 2)  # two layers
    assert state.lengths.tolist() == [n + 5 for n in lengths]


def test_equal_lengths_give_a_plain_stream():
    layer = _layer()
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    out, state = layer.prefill(x, lengths=[6, 6, 6])
    ref, ref_state = layer.prefill(x[:, :6])
    assert not state.ragged and state.t == 6 and out.shape == (3, 10, 6)
    torch.testing.assert_close(out[:, :6], ref, atol=0, rtol=0)
    assert torch.all(out[:, 6:] == 0)
    assert len(state.stacks[0]) == len(ref_state.stacks[0]) == 2


@pytest.mark.parametrize("cell,R", CELLS)
def test_chunk_continuation_equals_step_by_step(cell, R):
    layer = _layer(cell, R)
    x = torch.randn(2, 70, 3, dtype=torch.float64)
    full = layer(x)[0]
    for t0, T in [(0, 5), (1, 1), (3, 2), (5, 11), (7, 1), (8, 8), (13, 19), (31, 2), (33, 30)]:
        state = layer.prefill(x[:, :t0])[1] if t0 else layer.init_stream(2)
        y, state = layer.prefill(x[:, t0 : t0 + T], state=state)
        torch.testing.assert_close(y, full[:, t0 : t0 + T], atol=1e-12, rtol=0)
        assert state.t == t0 + T and not state.ragged
        assert len(state.stacks[0]) == bin(t0 + T).count("1")
        for t in range(t0 + T, min(70, t0 + T + 5)):  # the new state streams on exactly
            y, state = layer.step(x[:, t], state)
            torch.testing.assert_close(y, full[:, t], atol=1e-12, rtol=0)


def test_chunk_continuation_rounds_are_logarithmic():
    layer = _layer("lstm", 1)
    x = torch.randn(2, 1100, 3, dtype=torch.float64)
    _, state = layer.prefill(x[:, :77])
    calls = _count_combines(layer)
    y, _ = layer.prefill(x[:, 77:1100], state=state)
    assert len(calls) <= 2 * 2 * math.ceil(math.log2(1100))  # two layers, two sweeps
    torch.testing.assert_close(y[:, -1], layer(x)[0][:, -1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("schedule", ["tree", "sequential"])
def test_ragged_chunk_continuation_falls_back_exactly(schedule):
    layer = _layer("lstm", 1, schedule=schedule)
    lengths = [2, 9, 16]
    x = torch.randn(3, 40, 3, dtype=torch.float64)
    alone = layer(x)[0]
    _, state = layer.prefill(x[:, :16], lengths=lengths)
    chunk = torch.stack([x[b, n : n + 12] for b, n in enumerate(lengths)])
    y, state = layer.prefill(chunk, state=state)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(y[b], alone[b, n : n + 12], atol=1e-12, rtol=0)
    assert state.lengths.tolist() == [14, 21, 28]


def test_time_major_ragged_and_continuation():
    layer = _layer()
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    out, st = layer.prefill(x, lengths=[12, 5])
    _, st5 = layer.prefill(x[:, :5])
    layer.batch_first = False
    out_t, st_t = layer.prefill(x.transpose(0, 1), lengths=[12, 5])
    torch.testing.assert_close(out_t.transpose(0, 1), out, atol=0, rtol=0)
    y_t, _ = layer.prefill(x[:, 5:].transpose(0, 1), state=st5)
    layer.batch_first = True
    torch.testing.assert_close(y_t.transpose(0, 1), layer(x)[0][:, 5:], atol=1e-12, rtol=0)


@pytest.mark.parametrize("ragged", [False, True])
def test_select_reorders_rows(ragged):
    layer = _layer()
    x = torch.randn(3, 20, 3, dtype=torch.float64)
    lengths = [4, 11, 20] if ragged else [20, 20, 20]
    _, state = layer.prefill(x, lengths=lengths)
    index = [2, 0, 0]
    picked = state.select(index)
    assert picked.batch_size == 3 and picked.lengths.tolist() == [lengths[i] for i in index]
    x_t = torch.randn(3, 3, dtype=torch.float64)
    y_picked, _ = layer.step(x_t[index], picked)
    y_ref, _ = layer.step(x_t, state)
    torch.testing.assert_close(y_picked, y_ref[index], atol=1e-12, rtol=0)


def test_errors():
    layer = _layer()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    _, state = layer.prefill(x)
    with pytest.raises(ValueError, match="not both"):
        layer.prefill(x, lengths=[6, 3], state=state)
    with pytest.raises(ValueError, match="batch_size=2"):
        layer.prefill(torch.randn(3, 2, 3, dtype=torch.float64), state=state)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=6\]"):
        layer.prefill(x, lengths=[0, 3])
    with pytest.raises(ValueError, match=r"rows in \[0, 2\)"):
        state.select([0, 2])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        state.select([])
    with pytest.raises(ValueError, match="another PRLSTM layer"):
        _layer().prefill(x, state=state)
