"""PR-family benchmark models: a PRLSTM layer plus the readout of docs/model.md#readout."""

from __future__ import annotations

import pytest
import torch

from prlstm.layer import PRLSTM
from prlstm.models import build


@pytest.mark.parametrize(("name", "cell"), [("pr_lstm", "lstm"), ("pr_rnn", "rnn"),
                                            ("pr_gru", "gru")])
def test_pr_models_wrap_the_layer(name: str, cell: str) -> None:
    torch.manual_seed(0)
    model = build(name, 3, 4, hidden_size=6).double().eval()
    layer = model.core.pr
    assert isinstance(layer, PRLSTM)
    assert (layer.input_size, layer.hidden_size, layer.cell) == (4, 6, cell)
    assert layer.refinements == (0 if cell == "gru" else 1)
    assert (layer.schedule, layer.backend, layer.num_layers) == ("tree", "auto", 1)
    inputs = torch.randint(0, 3, (2, 5))
    x = model.extended_inputs(inputs, 3)  # (2, 8, 4)
    expected = model.core.readout(torch.relu(layer(x)[0]))[:, -3:]
    torch.testing.assert_close(model(inputs, 3), expected)
    readout = 6 * 4 + 4
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in layer.parameters()) + readout


def test_pr_flags_reach_the_layer() -> None:
    model = build("pr_lstm", 2, 2, hidden_size=4, refinements=2, schedule="sequential",
                  backend="reference", merge="concat")
    layer = model.core.pr
    assert (layer.refinements, layer.schedule, layer.backend, layer.merge) == (
        2, "sequential", "reference", "concat")
    assert model.config == {"model": "pr_lstm", "input_size": 2, "output_size": 2,
                            "hidden_size": 4, "refinements": 2, "schedule": "sequential",
                            "backend": "reference", "merge": "concat"}
    assert build("pr_rnn", 2, 2, hidden_size=4, refinements=0).core.pr.refinements == 0


def test_pr_backends_agree() -> None:
    torch.manual_seed(1)
    a = build("pr_lstm", 2, 2, hidden_size=5, backend="reference").double().eval()
    b = build("pr_lstm", 2, 2, hidden_size=5, backend="levelwise").double().eval()
    b.load_state_dict(a.state_dict())
    inputs = torch.randint(0, 2, (3, 9))
    with torch.no_grad():
        torch.testing.assert_close(a(inputs, 4), b(inputs, 4))


def test_last_logits_match_full_pass():
    import torch

    from prlstm.models import build

    torch.manual_seed(0)
    model = build("pr_lstm", 2, 2, hidden_size=16)
    ids = torch.randint(0, 2, (3, 21))
    for n_out in (1, 4):
        full = model.core(model.extended_inputs(ids, n_out))[:, -n_out:]
        torch.testing.assert_close(model(ids, n_out), full, atol=1e-6, rtol=0)
