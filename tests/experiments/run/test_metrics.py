"""The loss and the masked accuracy of docs/benchmark.md#loss-and-accuracy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from prlstm import tasks
from prlstm.experiments.run.evaluate import score
from prlstm.experiments.run.metrics import masked_accuracy, sequence_loss


def _one_hot_logits(predictions: list[int], classes: int) -> torch.Tensor:
    """(1, T, C) logits whose argmax is ``predictions``."""
    return F.one_hot(torch.tensor([predictions]), classes).float() * 5.0


def test_zero_logits_give_ln_c_per_position_including_padding() -> None:
    """stack_manipulation (C = 3): zero logits give ln 3 per position, padding included."""
    task = tasks.get("stack_manipulation")
    batch = task.sample_batch(16, 7, seed=0)
    assert not bool(batch.mask.all()), "the batch should contain padding positions"
    logits = torch.zeros(*batch.targets.shape, task.output_size)
    assert sequence_loss(logits, batch.targets).item() == pytest.approx(math.log(3), abs=1e-6)


def test_loss_is_summed_over_classes_and_averaged_over_batch_and_positions() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 5)
    targets = torch.randint(0, 5, (3, 4))
    by_hand = -(F.one_hot(targets, 5) * logits.log_softmax(-1)).sum(-1).mean()
    assert sequence_loss(logits, targets).item() == pytest.approx(by_hand.item(), rel=1e-6)


@pytest.mark.parametrize(("prediction", "expected"), [
    ([1, 1, 0, 2, 1, 1, 1, 1], 1.0),
    ([1, 0, 0, 2, 0, 0, 0, 0], 0.75),
])
def test_masked_accuracy_item_66(prediction: list[int], expected: float) -> None:
    """Errors on padding are ignored (the target of stack_manipulation [0,1,1,0,4,2,2])."""
    task = tasks.get("stack_manipulation")
    targets, mask = task.targets(torch.tensor([[0, 1, 1, 0, 4, 2, 2]]))
    assert targets.tolist() == [[1, 1, 0, 2, 0, 0, 0, 0]]
    accuracy = masked_accuracy(_one_hot_logits(prediction, 3), targets, mask)
    assert accuracy.item() == pytest.approx(expected)


def test_accuracy_is_pooled_over_masked_tokens_not_a_mean_of_sequences() -> None:
    targets = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])
    mask = torch.tensor([[True, True, True, True], [True, False, False, False]])
    logits = _one_hot_logits([1, 1, 1, 1], 2).expand(2, 4, 2)
    # row 0: 4/4 correct, row 1: 0/1 correct -> pooled 4/5 (a per-sequence mean would be 0.5)
    assert masked_accuracy(logits, targets, mask).item() == pytest.approx(0.8)


def test_shape_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="expected logits"):
        sequence_loss(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))


def test_score_is_the_mean_over_lengths_n_plus_1_to_m() -> None:
    accuracies = [1.0] * 40 + [0.5, 0.7]  # lengths 1..42; N = 40 -> lengths 41, 42
    assert score(accuracies, 40) == pytest.approx(0.6)
    assert math.isnan(score([1.0] * 5, 5))
