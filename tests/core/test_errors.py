"""Bad input gets a clear error that names the argument."""

import pytest
import torch

from prlstm import PRLSTM


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return PRLSTM(4, 8)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"cell": "lstmx"}, "cell must be one of"),
        ({"schedule": "balanced"}, "schedule must be one of"),
        ({"backend": "cuda"}, "backend must be one of"),
        ({"cell": "gru", "refinements": 1}, "refinements must be 0"),
        ({"refinements": -1}, "refinements must be an int"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"dropout": 1.5}, "dropout must be in"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PRLSTM(4, 8, **kwargs)


def test_hidden_size_error():
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        PRLSTM(4, 0)


def test_input_errors(layer):
    with pytest.raises(ValueError, match=r"x must have 3 dims .* got shape \(5, 4\)"):
        layer(torch.randn(5, 4))
    with pytest.raises(ValueError, match="input_size=4"):
        layer(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="T = 0"):
        layer(torch.randn(2, 0, 4))
    with pytest.raises(TypeError, match="x has dtype torch.float64 .* torch.float32"):
        layer(torch.randn(2, 5, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        layer([[0.0] * 4])


def test_device_mismatch(layer):
    with pytest.raises(ValueError, match="x is on meta but the layer's parameters are on cpu"):
        layer(torch.empty(2, 5, 4, device="meta"))


@pytest.mark.parametrize(
    "lengths,exc,match",
    [
        (torch.tensor([3, 6]), ValueError, r"lengths must lie in \[1, T=5\]"),
        (torch.tensor([0, 2]), ValueError, r"lengths must lie in \[1, T=5\]"),
        (torch.tensor([3, 2, 1]), ValueError, r"lengths must have shape \(2,\)"),
        (torch.tensor([[3, 2]]), ValueError, r"lengths must have shape \(2,\)"),
        (torch.tensor([3.0, 2.0]), TypeError, "lengths must hold integers"),
        ("35", TypeError, "lengths must be a 1-D int tensor"),
    ],
)
def test_lengths_errors(layer, lengths, exc, match):
    x = torch.randn(2, 5, 4)
    with pytest.raises(exc, match=match):
        layer(x, lengths=lengths)
    with pytest.raises(exc, match=match):
        layer.final_state(x, lengths=lengths)


def test_stream_errors(layer):
    other = PRLSTM(4, 8)
    state = other.init_stream(2)
    with pytest.raises(ValueError, match="another PRLSTM layer"):
        layer.step(torch.randn(2, 4), state)
    state = layer.init_stream(2)
    with pytest.raises(ValueError, match="batch_size=2 but x_t has batch size 3"):
        layer.step(torch.randn(3, 4), state)
    with pytest.raises(TypeError, match="state must be a StreamState"):
        layer.step(torch.randn(2, 4), (torch.zeros(2, 8), torch.zeros(2, 8)))
    with pytest.raises(ValueError, match=r"x_t must have 2 dims"):
        layer.step(torch.randn(2, 1, 4), state)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        layer.init_stream(0)
