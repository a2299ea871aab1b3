"""Layer behaviour: causality, padding, lengths, streaming, prefill, final_state, dtypes."""

import pytest
import torch

from prlstm import PRLSTM, PRState


def _layer(cell="lstm", R=1, dtype=torch.float64, **kw):
    torch.manual_seed(0)
    return PRLSTM(4, 8, cell=cell, refinements=R, dtype=dtype, **kw)


def test_shapes_and_state_like_nn_lstm():
    layer = _layer(num_layers=2)
    out, (h, c) = layer(torch.randn(3, 10, 4, dtype=torch.float64))
    assert out.shape == (3, 10, 8) and h.shape == (2, 3, 8) and c.shape == (2, 3, 8)
    torch.testing.assert_close(h[-1], out[:, -1])
    rnn = _layer(cell="rnn")
    out, state = rnn(torch.randn(3, 10, 4, dtype=torch.float64))
    assert state.c is None and state.h.shape == (1, 3, 8)


def test_time_major_matches_batch_first():
    layer = _layer()
    x = torch.randn(3, 11, 4, dtype=torch.float64)
    out, state = layer(x)
    layer.batch_first = False
    out_t, state_t = layer(x.transpose(0, 1))
    torch.testing.assert_close(out_t.transpose(0, 1), out)
    torch.testing.assert_close(state_t.h, state.h)


@pytest.mark.parametrize("cell,R", [("lstm", 1), ("rnn", 2), ("gru", 0)])
def test_causal(cell, R):
    layer = _layer(cell, R, num_layers=2)
    x = torch.randn(2, 37, 4, dtype=torch.float64)
    out = layer(x)[0]
    for t in [0, 1, 6, 7, 15, 20, 35]:
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :])
        torch.testing.assert_close(layer(y)[0][:, : t + 1], out[:, : t + 1], atol=0, rtol=0)
        # ... and the state at t is independent of the total length.
        torch.testing.assert_close(layer(x[:, : t + 1])[0], out[:, : t + 1], atol=1e-12, rtol=0)


def test_right_padding_and_lengths():
    layer = _layer(num_layers=2)
    lengths = [5, 1, 17, 12]
    seqs = [torch.randn(n, 4, dtype=torch.float64) for n in lengths]
    x = torch.zeros(4, 20, 4, dtype=torch.float64)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        x[i, len(s) :] = 1e3 * torch.randn(20 - len(s), 4)  # garbage padding
    out, state = layer(x, lengths=torch.tensor(lengths))
    final = layer.final_state(x, lengths=lengths)
    for i, s in enumerate(seqs):
        alone, alone_state = layer(s[None])
        torch.testing.assert_close(out[i, : len(s)], alone[0], atol=1e-12, rtol=0)
        assert torch.all(out[i, len(s) :] == 0)
        torch.testing.assert_close(state.h[:, i], alone_state.h[:, 0], atol=1e-12, rtol=0)
        torch.testing.assert_close(state.c[:, i], alone_state.c[:, 0], atol=1e-12, rtol=0)
        torch.testing.assert_close(final.h[:, i], alone_state.h[:, 0], atol=1e-12, rtol=0)
        torch.testing.assert_close(final.c[:, i], alone_state.c[:, 0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("schedule", ["tree", "sequential"])
@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_final_state_matches_forward(cell, schedule):
    layer = _layer(cell, 0 if cell == "gru" else 1, num_layers=2, schedule=schedule)
    for n in [1, 2, 3, 8, 13, 64, 77]:
        x = torch.randn(3, n, 4, dtype=torch.float64)
        _, state = layer(x)
        final = layer.final_state(x)
        torch.testing.assert_close(final.h, state.h, atol=1e-12, rtol=0)
        if cell == "lstm":
            torch.testing.assert_close(final.c, state.c, atol=1e-12, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["tree", "sequential"])
@pytest.mark.parametrize("cell,R", [("lstm", 1), ("rnn", 0), ("gru", 0)])
def test_streaming_equals_forward_equals_prefill_then_step(cell, R, schedule):
    layer = _layer(cell, R, num_layers=2, schedule=schedule)
    n = 70  # crosses 1, 2, 4, ..., 64
    x = torch.randn(2, n, 4, dtype=torch.float64)
    out = layer(x)[0]
    state = layer.init_stream(2)
    for t in range(n):
        y, state = layer.step(x[:, t], state)
        torch.testing.assert_close(y, out[:, t], atol=1e-12, rtol=0)
    assert state.t == n
    for p in [1, 3, 8, 16, 31, 33]:
        pre, st = layer.prefill(x[:, :p])
        torch.testing.assert_close(pre, out[:, :p], atol=1e-12, rtol=0)
        assert st.t == p
        for t in range(p, min(n, p + 40)):
            y, st = layer.step(x[:, t], st)
            torch.testing.assert_close(y, out[:, t], atol=1e-12, rtol=0)


def test_stream_memory_is_logarithmic():
    layer = _layer(num_layers=1)
    state = layer.init_stream(1)
    for t in range(300):
        _, state = layer.step(torch.randn(1, 4, dtype=torch.float64), state)
        assert len(state.stacks[0]) == bin(t + 1).count("1")


def test_step_is_pure():
    layer = _layer()
    x = torch.randn(1, 5, 4, dtype=torch.float64)
    _, st = layer.prefill(x[:, :3])
    y1, _ = layer.step(x[:, 3], st)
    y2, _ = layer.step(x[:, 3], st)
    assert torch.equal(y1, y2)


@pytest.mark.slow
def test_gradcheck_tiny_layer():
    layer = _layer("lstm", 1)
    x = torch.randn(1, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp)[0], (x,))
    names = [n for n, _ in layer.named_parameters()]

    def by_params(*ps):
        out, state = torch.func.functional_call(layer, dict(zip(names, ps, strict=True)),
                                                (x.detach(),))
        return out, state.c

    params = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    assert torch.autograd.gradcheck(by_params, params)


def test_bf16_forward_close_to_float32():
    torch.manual_seed(0)
    layer = PRLSTM(4, 32)
    x = torch.randn(2, 50, 4)
    ref = layer(x)[0]
    out = layer.to(torch.bfloat16)(x.to(torch.bfloat16))[0]
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05


def test_autocast_cpu_bf16():
    torch.manual_seed(0)
    layer = PRLSTM(4, 16)
    x = torch.randn(2, 20, 4)
    ref = layer(x)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)[0]
    assert (out.float() - ref).abs().max() < 0.05


def test_nan_in_nan_out():
    layer = _layer()
    x = torch.randn(1, 9, 4, dtype=torch.float64)
    x[0, 4, 1] = float("nan")
    out = layer(x)[0]
    assert not out[0, :4].isnan().any()
    assert out[0, 4:].isnan().all()


def test_dropout_between_layers_only_in_training():
    layer = _layer(num_layers=2, dropout=0.5)
    x = torch.randn(2, 9, 4, dtype=torch.float64)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


def test_no_bias_and_float64_parameters():
    layer = PRLSTM(4, 8, bias=False, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert all("bias" not in name for name, _ in layer.named_parameters())
    assert layer(torch.randn(1, 3, 4, dtype=torch.float64))[0].dtype == torch.float64


@pytest.mark.parametrize("compiler", ["eager", pytest.param("aot_eager", marks=pytest.mark.slow)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_torch_compile_fullgraph_matches_eager(compiler, with_lengths):
    """One graph for forward, with and without lengths (their values are checked eagerly
    only), and the eager numbers; aot_eager also traces the backward."""
    torch.manual_seed(0)
    layer = PRLSTM(4, 8, num_layers=2)
    x = torch.randn(3, 13, 4)
    lengths = torch.tensor([13, 5, 1]) if with_lengths else None
    ref, ref_state = layer(x, lengths=lengths)
    torch._dynamo.reset()
    compiled = torch.compile(layer, backend=compiler, fullgraph=True)
    out, state = compiled(x, lengths=lengths)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(state.h, ref_state.h, atol=1e-6, rtol=0)
    torch.testing.assert_close(state.c, ref_state.c, atol=1e-6, rtol=0)
    if compiler == "aot_eager":
        (g,) = torch.autograd.grad(out.square().sum(), layer.layers[0].leaf.weight)
        (g_ref,) = torch.autograd.grad(layer(x, lengths=lengths)[0].square().sum(),
                                       layer.layers[0].leaf.weight)
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_torch_compile_inductor_same_output():
    torch.manual_seed(0)
    layer = PRLSTM(4, 8)
    x = torch.randn(2, 13, 4)
    ref = layer(x)[0]
    torch._dynamo.reset()
    inductor = torch.compile(layer, fullgraph=True)
    torch.testing.assert_close(inductor(x)[0], ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(inductor(x, lengths=[13, 4])[0], layer(x, lengths=[13, 4])[0],
                               atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["tree", "sequential"])
def test_forward_from_a_stream_state_equals_prefill(schedule):
    layer = _layer(num_layers=2, schedule=schedule)
    x = torch.randn(2, 30, 4, dtype=torch.float64)
    for t0 in (0, 1, 7, 16):
        state = layer.prefill(x[:, :t0])[1] if t0 else layer.init_stream(2)
        out, final = layer(x[:, t0:], hx=state)
        want, stream = layer.prefill(x[:, t0:], state=state)
        torch.testing.assert_close(out, want, atol=0, rtol=0)
        torch.testing.assert_close(out, layer(x)[0][:, t0:], atol=1e-12, rtol=0)
        torch.testing.assert_close(final.h[-1], out[:, -1], atol=0, rtol=0)
        assert stream.t == 30


@pytest.mark.parametrize("cell,R", [("lstm", 1), ("gru", 0)])
def test_forward_from_a_prstate_folds_it_in_front(cell, R):
    """A PRState hx is the root of one block before the input: after a power-of-two
    prefix (one block on the stack) that is exactly the continuation."""
    layer = _layer(cell, R, num_layers=2)
    x = torch.randn(2, 16 + 11, 4, dtype=torch.float64)
    full = layer(x)[0]
    _, hx = layer(x[:, :16])
    out, state = layer(x[:, 16:], hx=hx)
    torch.testing.assert_close(out, full[:, 16:], atol=1e-12, rtol=0)
    out2, _ = layer(x[:, 16:], hx=tuple(hx))  # a plain (h, c) tuple works too
    torch.testing.assert_close(out2, out, atol=0, rtol=0)
    assert state.h.shape == (2, 2, 8)
    with pytest.raises(ValueError, match=r"hx.h must be a tensor of shape \(2, 2, 8\)"):
        layer(x, hx=(hx.h[:1], hx.c))
    with pytest.raises(ValueError, match="not both"):
        layer(x, hx=hx, lengths=[27, 3])


def test_constructor_arguments_are_keyword_only_and_return_types_fixed():
    with pytest.raises(TypeError):
        PRLSTM(4, 8, "lstm")
    layer = _layer(cell="rnn", R=0)
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    for out in (layer(x), layer(x, lengths=[5, 2]), layer(x, hx=layer.prefill(x)[1])):
        assert isinstance(out, tuple) and isinstance(out[1], PRState) and out[1].c is None


@pytest.mark.parametrize("R", [0, 2])
def test_inference_fast_path_matches_autograd_path(R):
    layer = _layer("lstm", R, num_layers=2)
    x = torch.randn(2, 37, 4, dtype=torch.float64)
    out, state = layer(x)
    with torch.inference_mode():
        out_i, state_i = layer(x)
        final_i = layer.final_state(x)
    torch.testing.assert_close(out_i, out, atol=1e-12, rtol=0)
    torch.testing.assert_close(state_i.c, state.c, atol=1e-12, rtol=0)
    torch.testing.assert_close(final_i.h, state.h, atol=1e-12, rtol=0)
