"""RNN and LSTM baselines (docs/benchmark.md#rnn-and-lstm) and causality of the recurrent cores."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from prlstm.models.pr import PRCore
from prlstm.models.rnn import LSTM, VanillaRNN
from prlstm.models.stack_rnn import StackRNN
from prlstm.models.tape_rnn import TapeRNN


def one_hots(B: int, S: int, V: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return nn.functional.one_hot(torch.randint(0, V, (B, S), generator=g), V).double()


def test_rnn_matches_its_definition() -> None:
    torch.manual_seed(0)
    core = VanillaRNN(3, 2, hidden_size=5).double()
    x = one_hots(2, 6, 3)
    ih, hh = core.input_to_hidden, core.hidden_to_hidden
    with torch.no_grad():  # non-zero biases so that both are exercised
        ih.bias.normal_()
        hh.bias.normal_()
    h = torch.zeros(2, 5, dtype=torch.float64)
    expected = []
    for t in range(6):
        h = torch.relu(x[:, t] @ ih.weight.T + ih.bias + h @ hh.weight.T + hh.bias)
        expected.append(core.readout(torch.relu(h)))
    got = core(x)
    torch.testing.assert_close(got, torch.stack(expected, 1))
    torch.testing.assert_close(core.hidden(x, fused=False), core.hidden(x))


def test_lstm_matches_haiku_definition() -> None:
    torch.manual_seed(0)
    H = 4
    core = LSTM(3, 2, hidden_size=H).double()
    with torch.no_grad():
        core.gates.bias.normal_()
    x = one_hots(2, 7, 3)
    h = torch.zeros(2, H, dtype=torch.float64)
    c = torch.zeros(2, H, dtype=torch.float64)
    expected = []
    for t in range(7):
        z = core.gates(torch.cat([x[:, t], h], -1))
        i, g, f, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
        c = torch.sigmoid(f + 1) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        expected.append(h)
    expected_h = torch.stack(expected, 1)
    torch.testing.assert_close(core.hidden(x), expected_h)
    torch.testing.assert_close(core.hidden(x, fused=False), expected_h)
    torch.testing.assert_close(core(x), core.readout(torch.relu(expected_h)))


def test_lstm_forget_bias_is_plus_one() -> None:
    # Zero weights and biases except a candidate drive at t = 0: c_0 = σ(0)·tanh(1) and then
    # decays by σ(0 + 1) per step (the +1 is in the forward pass, not in the bias).
    H = 2
    core = LSTM(1, 1, hidden_size=H).double()
    with torch.no_grad():
        core.gates.weight.zero_()
        core.gates.bias.zero_()
        core.gates.weight[H : 2 * H, 0] = 1.0  # g-gate reads x
    x = torch.zeros(1, 3, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0
    c0 = 0.5 * torch.tanh(torch.tensor(1.0, dtype=torch.float64))
    c2 = c0 * torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)) ** 2
    for fused in (True, False):
        h = core.hidden(x, fused=fused)
        torch.testing.assert_close(h[0, 2], torch.full((H,), 0.5 * torch.tanh(c2).item(),
                                                       dtype=torch.float64))
    assert sum(p.numel() for p in core.parameters()) == 4 * H * (1 + H) + 4 * H + H + 1


def test_fused_paths_have_the_same_gradients() -> None:
    torch.manual_seed(1)
    for core in (VanillaRNN(3, 2, 6).double(), LSTM(3, 2, 6).double()):
        x = one_hots(3, 5, 3)
        grads = []
        for fused in (True, False):
            core.zero_grad()
            core.readout(torch.relu(core.hidden(x, fused=fused))).pow(2).sum().backward()
            grads.append([p.grad.clone() for p in core.parameters()])
        for a, b in zip(*grads, strict=True):
            torch.testing.assert_close(a, b)


def _cores() -> list[tuple[str, nn.Module]]:
    torch.manual_seed(3)
    return [
        ("rnn", VanillaRNN(3, 2, 6)),
        ("lstm", LSTM(3, 2, 6)),
        ("stack_rnn", StackRNN(3, 2, 6, stack_cell_size=2, stack_size=4)),
        ("tape_rnn", TapeRNN(3, 2, 6, memory_cell_size=2, memory_size=5,
                             mlp_layers_size=(4,))),
        ("pr_lstm", PRCore(3, 2, "lstm", hidden_size=6)),
    ]


@pytest.mark.parametrize(("name", "core"), _cores(), ids=lambda v: v if isinstance(v, str) else "")
def test_recurrent_cores_are_causal(name: str, core: nn.Module) -> None:
    core = core.double().eval()
    x = one_hots(2, 9, 3, seed=4)
    y = x.clone()
    y[:, 5:] = one_hots(2, 4, 3, seed=5)
    with torch.no_grad():
        a, b = core(x, input_length=4), core(y, input_length=4)
    torch.testing.assert_close(a[:, :5], b[:, :5], rtol=0, atol=1e-12)
    assert not torch.allclose(a[:, 5:], b[:, 5:])
