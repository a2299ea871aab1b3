"""The layer's rules (prlstm.config.PRLSTMConfig) and its input checks: bad input gets a
one-line error that names the argument, the value and what was expected."""

import pytest
import torch

from prlstm import PRLSTM, models
from prlstm.config import PRLSTMConfig


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
    with pytest.raises(ValueError, match=r"input must have 3 dims .* got shape \(5, 4\)"):
        layer(torch.randn(5, 4))
    with pytest.raises(ValueError, match="input_size=4"):
        layer(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="T = 0"):
        layer(torch.randn(2, 0, 4))
    with pytest.raises(TypeError, match="input has dtype torch.float64 .* torch.float32"):
        layer(torch.randn(2, 5, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        layer([[0.0] * 4])


def test_device_mismatch(layer):
    with pytest.raises(ValueError, match="input is on meta but the layer's parameters are on cpu"):
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


def test_config_is_validated_once_and_shared():
    layer = PRLSTM(4, 8, num_layers=2, schedule="sequential")
    assert layer.config == PRLSTMConfig(4, 8, num_layers=2, schedule="sequential")
    assert all(cell.cell == "lstm" for cell in layer.layers)
    layer.backend = "chunked"  # the settable fields are validated again
    assert layer.config.backend == "chunked"
    with pytest.raises(ValueError, match="backend must be one of .* got 'gpu'"):
        layer.backend = "gpu"
    with pytest.raises(AttributeError):
        layer.hidden_size = 9
    with pytest.raises(ValueError, match="dropout must be in \\[0, 1\\), got True"):
        PRLSTMConfig(4, 8, dropout=True)


@pytest.mark.parametrize("kwargs,match", [
    ({"cell": "gru", "refinements": 1}, "refinements must be 0 for cell='gru'"),
    ({"cell": "gru", "refinements": 0, "merge": "sum"}, "merge must be 'gated' for cell='gru'"),
    ({"merge": "max"}, "merge must be one of"),
])
def test_cells_follow_the_same_rules(kwargs, match):
    from prlstm.cells import CombineCell

    with pytest.raises(ValueError, match=match):
        CombineCell(4, 8, **kwargs)
    with pytest.raises(ValueError, match=match):
        PRLSTM(4, 8, **kwargs)


def test_models_name_the_option():
    with pytest.raises(ValueError, match="pr_gru: option 'refinements' must be 0 for "
                                         "cell='gru'.*got 1"):
        models.build("pr_gru", 2, 2, refinements=1)
    with pytest.raises(ValueError, match="pr_lstm: option 'backend' must be .*merge='gated' "
                                         "only.*'sum'.*got 'triton'"):
        models.build("pr_lstm", 2, 2, merge="sum", backend="triton")
