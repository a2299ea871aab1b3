"""The benchmark's loss and accuracy (docs/benchmark.md#loss-and-accuracy).

* Loss: cross-entropy of the logits against the target class, summed over the class axis and
  averaged over the batch and every output position, **padding positions included** (the model
  is trained to emit class 0 after a termination token).
* Accuracy: ``[argmax logits == target]`` pooled over all masked positions of the batch,
  ``Σ(mask · correct) / Σ(mask)`` — not a mean of per-sequence accuracies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_shapes(logits: Tensor, targets: Tensor) -> None:
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"expected logits (B, T_out, C) and targets (B, T_out), got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)}")


def sequence_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy over batch and positions (no mask); scalar tensor.

    Args:
        logits: ``(B, T_out, C)`` unnormalised scores.
        targets: ``(B, T_out)`` int64 class ids.
    """
    _check_shapes(logits, targets)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def masked_accuracy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Pooled masked accuracy ``Σ(mask · correct) / Σ(mask)``; scalar float tensor.

    An all-zero mask (which no task produces) gives 0.
    """
    _check_shapes(logits, targets)
    if mask.shape != targets.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != targets shape {tuple(targets.shape)}")
    mask = mask.bool()
    correct = (logits.argmax(dim=-1) == targets) & mask
    return correct.sum().float() / mask.sum().clamp_min(1).float()


def batch_metrics(logits: Tensor, targets: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``(loss, accuracy)`` for one batch; the accuracy is computed without gradient."""
    loss = sequence_loss(logits, targets)
    with torch.no_grad():
        accuracy = masked_accuracy(logits.detach(), targets, mask)
    return loss, accuracy
