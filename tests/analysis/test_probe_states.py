"""Prefix states are causal prefix states; the probe reads what is linearly there."""

import math

import pytest
import torch

from prlstm import models
from prlstm.analysis import (
    BUCKETS,
    EvalSequences,
    automaton_labels,
    eval_sequences,
    prefix_states,
    probe_accuracy,
)
from prlstm.experiments.orchestrate.presets import make_config
from prlstm.tasks import get


@pytest.mark.parametrize("name", ["pr_lstm", "lstm", "rnn"])
def test_prefix_states_are_the_states_of_each_prefix(name):
    torch.manual_seed(0)
    model = models.build(name, 2, 2, hidden_size=6)
    x = torch.randint(0, 2, (3, 11))
    data = EvalSequences(torch.nn.functional.pad(x, (0, 2)), torch.tensor([11, 11, 11]))
    h = prefix_states(model, data)  # (3, 13, 6)
    assert h.shape == (3, 13, 6) and (h[:, 11:] == 0).all()
    for t in (0, 4, 10):
        seq = model.extended_inputs(x[:, : t + 1], 1)
        alone = model.core.hidden(seq)[:, t]
        torch.testing.assert_close(h[:, t], alone, atol=1e-6, rtol=0)


def test_transformer_is_refused():
    model = models.build("transformer", 2, 2, embedding_dim=8, num_layers=1, num_heads=2,
                         ff_size=8)
    data = EvalSequences(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="no causal hidden"):
        prefix_states(model, data)


def test_eval_sequences_are_the_fixed_test_set():
    config = make_config("parity_check", "lstm", "smoke")
    task = get("parity_check")
    data = eval_sequences(config, task, num_lengths=3)
    assert data.lengths.tolist() == [10] * 8 + [11] * 8 + [12] * 8
    again = eval_sequences(make_config("parity_check", "pr_lstm", "smoke", seed=4), task, 3)
    assert torch.equal(data.inputs, again.inputs)  # same for every model and training seed
    assert (data.inputs[~data.valid()] == 0).all()


@pytest.mark.slow
def test_probe_decodes_a_linear_code_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (40, 300), generator=g)
    labels = automaton_labels("cycle_navigation", x)
    valid = torch.ones_like(labels, dtype=torch.bool)
    valid[1::4, 200:] = False
    code = torch.nn.functional.one_hot(labels, 5).float()
    states = torch.cat([code, torch.randn(40, 300, 3, generator=g)], -1)
    acc = probe_accuracy(states, labels, valid, seed=0)
    assert list(acc) == ["[0,40)", "[40,100)", "[100,250)", "[250,500)"]
    assert all(v == 1.0 for v in acc.values())
    noise = probe_accuracy(torch.randn(40, 300, 8, generator=g), labels, valid, seed=0)
    assert all(v < 0.35 for v in noise.values())
    assert math.isnan(probe_accuracy(states, labels, valid, buckets=[(300, 400)])["[300,400)"])
    assert BUCKETS[-1] == (250, 500)


def test_probe_refuses_bad_shapes():
    with pytest.raises(ValueError, match="states must be"):
        probe_accuracy(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.slow
def test_imports_stay_light():
    import subprocess
    import sys

    code = ("import sys, prlstm; assert 'prlstm.analysis' not in sys.modules; "
            "import prlstm.analysis; bad = {'sklearn', 'matplotlib'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
