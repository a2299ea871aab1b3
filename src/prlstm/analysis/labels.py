"""Automaton-state labels per prefix for the regular tasks.

Definitions: docs/experiments.md#probing-the-automaton-state.

``automaton_labels(task, inputs)`` gives, for token ids ``inputs`` (B, T), the state of the
task's recognising automaton after every prefix ``x_0..x_t`` as int64 labels (B, T):

* ``parity_check``: number of ones so far mod 2 (2 classes);
* ``cycle_navigation``: position on the 5-cycle, ``Σ (x_i − 1) mod 5`` (5 classes);
* ``even_pairs``: ``2 · first symbol + current symbol`` (4 classes; the answer is whether
  the two differ).

* ``modular_arithmetic`` (default modulus 5, token ids of :class:`ModularArithmetic`): a label
  defined from the task's own left-to-right evaluation order, which the experiment's definition
  leaves to us — the value mod 5 of the longest prefix that is a complete expression, i.e. of
  ``x_0..x_t`` at a digit position and of ``x_0..x_{t-1}`` at an operator position (5 classes).
  It is a function of the finite evaluator state (finished sum of terms, running signed product,
  both mod 5), not that state itself.
``answer(task, label)`` maps the label at the last position to the task's answer, which is
how the tests tie the labels to the tasks' own ``targets()``.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Regular tasks with automaton labels -> number of label classes.
LABEL_CLASSES = {"parity_check": 2, "cycle_navigation": 5, "even_pairs": 4,
                 "modular_arithmetic": 5}

_MODULUS = 5  # modular_arithmetic: digits 0..4, then "+" 5, "-" 6, "*" 7, blank "_" 8


def _check_task(task: str) -> None:
    if task not in LABEL_CLASSES:
        raise ValueError(f"task must be one of {tuple(LABEL_CLASSES)} (tasks with automaton "
                         f"labels), got {task!r}")


def automaton_labels(task: str, inputs: Tensor) -> Tensor:
    """Automaton state after every prefix: ``inputs`` (B, T) token ids -> labels (B, T)."""
    _check_task(task)
    if not isinstance(inputs, Tensor) or inputs.dim() != 2 or inputs.is_floating_point():
        raise ValueError(f"inputs must be a (B, T) integer tensor of token ids, got "
                         f"{getattr(inputs, 'shape', type(inputs).__name__)}")
    x = inputs.long()
    if task == "parity_check":
        return x.cumsum(1) % 2
    if task == "cycle_navigation":
        return (x - 1).cumsum(1) % 5
    if task == "modular_arithmetic":
        return _prefix_values(x)
    return 2 * x[:, :1] + x  # even_pairs: (first, current)


def _prefix_values(x: Tensor) -> Tensor:
    """Value mod 5 of the longest complete prefix expression (× before + and −): (B, T)."""
    m = _MODULUS
    if x.numel() and (int(x.min()) < 0 or int(x.max()) > m + 3):
        raise ValueError(f"inputs must be modular_arithmetic token ids 0..{m + 3} (modulus "
                         f"{m}), got ids in {int(x.min())}..{int(x.max())}")
    out = torch.empty_like(x)  # (B, T)
    batch = x.shape[0]
    total = torch.zeros(batch, dtype=torch.long)  # finished sum of terms
    term = torch.zeros(batch, dtype=torch.long)  # running signed product
    op = torch.full((batch,), m, dtype=torch.long)  # the operator before the next digit
    for t in range(x.shape[1]):
        if t % 2 == 0:  # a digit (blank reads as 0)
            d = torch.where(x[:, t] == m + 3, 0, x[:, t])
            times = op == m + 2
            total = torch.where(times | (t == 0), total, (total + term) % m)
            signed = torch.where(op == m + 1, (m - d) % m, d)
            term = torch.where(times, (term * d) % m, signed)
            out[:, t] = (total + term) % m
        else:  # an operator (blank reads as +): the value so far is unchanged
            op = torch.where(x[:, t] == m + 3, m, x[:, t])
            out[:, t] = out[:, t - 1]
    return out


def answer(task: str, labels: Tensor) -> Tensor:
    """The task's answer implied by automaton labels (any shape), e.g. the last position's."""
    _check_task(task)
    if task == "even_pairs":
        return (labels // 2 != labels % 2).long()
    return labels.long()
