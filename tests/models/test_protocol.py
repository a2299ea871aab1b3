"""The non-autoregressive protocol (docs/benchmark.md#the-input-and-output-protocol)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from prlstm.models import BenchmarkModel, build

SMALL = {
    "pr_lstm": {"hidden_size": 8},
    "pr_rnn": {"hidden_size": 8},
    "pr_gru": {"hidden_size": 8},
    "rnn": {"hidden_size": 8},
    "lstm": {"hidden_size": 8},
    "stack_rnn": {"hidden_size": 8, "stack_cell_size": 3, "stack_size": 5},
    "tape_rnn": {"hidden_size": 8, "memory_cell_size": 3, "memory_size": 7,
                 "mlp_layers_size": (6,)},
    "transformer": {"embedding_dim": 8, "num_layers": 1, "num_heads": 2, "ff_size": 8},
}


class Recorder(nn.Module):
    """A core that records what it is called with and returns logits that encode position."""

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = output_size
        self.weight = nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[Tensor, int]] = []

    def forward(self, x: Tensor, input_length: int) -> Tensor:
        self.calls.append((x, input_length))
        B, S, _ = x.shape
        pos = torch.arange(S, dtype=x.dtype)[None, :, None].expand(B, S, self.output_size)
        return pos + self.weight


def test_item_61_parity_check_single_output() -> None:
    # parity_check: V = 2, C = 2, L = 5, T_out = 1.
    core = Recorder(2)
    model = BenchmarkModel(core, input_size=2, output_size=2)
    inputs = torch.tensor([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1]])
    logits = model(inputs, output_length=1)
    (x, T), = core.calls
    assert x.shape == (2, 6, 3)  # 6 steps of width 3
    assert torch.equal(x[:, -1], torch.tensor([[0.0, 0.0, 1.0]] * 2))  # last step: id 2
    assert torch.equal(x[:, :5].argmax(-1), inputs)
    assert torch.equal(x.sum(-1), torch.ones(2, 6))  # one-hot
    assert T == 5  # item 64: the original length
    assert logits.shape == (2, 1, 2)
    assert torch.all(logits == 5)  # read at step 6 (index 5)
    assert logits.squeeze(1).shape == (2, 2)


def test_item_62_duplicate_string() -> None:
    core = Recorder(2)
    model = BenchmarkModel(core, input_size=2, output_size=2)
    inputs = torch.randint(0, 2, (3, 5))
    logits = model(inputs, output_length=10)
    (x, T), = core.calls
    assert x.shape == (3, 15, 3)
    assert torch.equal(x[:, 5:].argmax(-1), torch.full((3, 10), 2))
    assert T == 5
    assert logits.shape == (3, 10, 2)
    assert torch.equal(logits[0, :, 0], torch.arange(5, 15, dtype=torch.float32))


def test_one_hot_float_inputs_match_ids() -> None:
    core = Recorder(3)
    model = BenchmarkModel(core, input_size=4, output_size=3)
    ids = torch.randint(0, 4, (2, 7))
    model(ids, 2)
    model(nn.functional.one_hot(ids, 4).float(), 2)
    assert torch.equal(core.calls[0][0], core.calls[1][0])
    assert core.calls[1][1] == 7


def test_follows_model_dtype() -> None:
    model = build("lstm", 3, 2, hidden_size=4).double()
    out = model(torch.randint(0, 3, (2, 4)), 3)
    assert out.dtype == torch.float64 and out.shape == (2, 3, 2)
    assert model.extended_inputs(torch.zeros(1, 2, dtype=torch.long), 1).dtype == torch.float64


@pytest.mark.parametrize(
    ("inputs", "T_out", "error"),
    [
        (torch.tensor([[0, 2]]), 1, ValueError),  # id out of range
        (torch.tensor([[-1, 0]]), 1, ValueError),
        (torch.zeros(2, 3), 1, ValueError),  # float ids
        (torch.zeros(2, 3, 5), 1, ValueError),  # wrong one-hot width
        (torch.zeros(2, 0, dtype=torch.long), 1, ValueError),  # T = 0
        (torch.zeros(2, 3, dtype=torch.long), 0, ValueError),  # T_out = 0
        (torch.zeros(2, 3, dtype=torch.long), 1.5, ValueError),
        (torch.zeros(2, 3, dtype=torch.bool), 1, TypeError),
        ([[0, 1]], 1, TypeError),
    ],
)
def test_bad_inputs(inputs: object, T_out: object, error: type) -> None:
    model = build("rnn", 2, 2, hidden_size=4)
    with pytest.raises(error):
        model(inputs, T_out)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize(("T", "T_out"), [(1, 1), (5, 10), (6, 3)])
def test_every_model_shapes(name: str, T: int, T_out: int) -> None:
    torch.manual_seed(0)
    model = build(name, 3, 4, **SMALL[name]).eval()
    out = model(torch.randint(0, 3, (2, T)), T_out)
    assert out.shape == (2, T_out, 4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(SMALL))
def test_eval_is_deterministic_and_batch_independent(name: str) -> None:
    # Unlike the reference transformer, every model is deterministic in eval mode; and each
    # sequence's logits do not depend on the rest of the batch.
    torch.manual_seed(1)
    model = build(name, 2, 2, **SMALL[name]).eval()
    inputs = torch.randint(0, 2, (3, 6))
    with torch.no_grad():
        a, b = model(inputs, 4), model(inputs, 4)
        single = model(inputs[1:2], 4)
    assert torch.equal(a, b)
    torch.testing.assert_close(single, a[1:2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(SMALL))
def test_gradient_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(2)
    model = build(name, 3, 2, **SMALL[name]).train()
    out = model(torch.randint(0, 3, (4, 5)), 3)
    loss = nn.functional.cross_entropy(out.reshape(-1, 2), torch.randint(0, 2, (12,)))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname
