"""Automaton labels agree with the tasks' own targets.

The labels: docs/experiments.md#probing-the-automaton-state.
"""

import pytest
import torch

from prlstm import tasks
from prlstm.analysis import LABEL_CLASSES, answer, automaton_labels


@pytest.mark.parametrize("name", sorted(LABEL_CLASSES))
def test_last_label_determines_the_answer_at_every_prefix(name):
    task = tasks.get(name)
    batch = task.sample_batch(64, 60, seed=5)
    labels = automaton_labels(name, batch.inputs)  # (B, T)
    assert labels.shape == batch.inputs.shape
    assert int(labels.min()) >= 0 and int(labels.max()) < LABEL_CLASSES[name]
    assert len(labels.unique()) == LABEL_CLASSES[name]
    T = batch.inputs.shape[1]
    prefixes = range(1, T + 1, 2) if name == "modular_arithmetic" else (1, 2, 3, 17, T)
    for t in prefixes:  # each prefix is itself a task input; its label is its answer
        targets, _ = task.targets(batch.inputs[:, :t])
        torch.testing.assert_close(answer(name, labels[:, t - 1]), targets[:, 0])
    if name == "modular_arithmetic":  # an operator does not change the value so far
        torch.testing.assert_close(labels[:, 1::2], labels[:, 0:-1:2])


def test_labels_by_hand():
    assert automaton_labels("parity_check", torch.tensor([[1, 0, 1, 1]])).tolist() == [
        [1, 1, 0, 1]]
    assert automaton_labels("cycle_navigation", torch.tensor([[0, 0, 1, 2, 2, 2]])).tolist() == [
        [4, 3, 3, 4, 0, 1]]
    assert automaton_labels("even_pairs", torch.tensor([[1, 0, 1, 1]])).tolist() == [
        [3, 2, 3, 3]]
    # 2*3+4-1*2 (ids: + 5, - 6, * 7): prefix values 2, 6, 10, 9, 8 mod 5
    assert automaton_labels("modular_arithmetic", torch.tensor([[2, 7, 3, 5, 4, 6, 1, 7, 2]])
                            ).tolist() == [[2, 2, 1, 1, 0, 0, 4, 4, 3]]
    # blanks (id 8) read as 0 in a digit slot and as + in an operator slot: 3 + 0 * 4 - 0
    assert automaton_labels("modular_arithmetic", torch.tensor([[3, 8, 8, 7, 4, 6, 8]])
                            ).tolist() == [[3, 3, 3, 3, 3, 3, 3]]


def test_tasks_without_labels_are_refused():
    with pytest.raises(ValueError, match="task must be one of .*'modular_arithmetic'"):
        automaton_labels("bucket_sort", torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids 0..8"):
        automaton_labels("modular_arithmetic", torch.tensor([[9]]))
    with pytest.raises(ValueError, match="integer tensor"):
        automaton_labels("parity_check", torch.zeros(1, 3))
