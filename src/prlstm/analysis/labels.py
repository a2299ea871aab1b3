"""Automaton-state labels per prefix for the regular tasks (analysis.md §2).

``automaton_labels(task, inputs)`` gives, for token ids ``inputs`` (B, T), the state of the
task's recognising automaton after every prefix ``x_0..x_t`` as int64 labels (B, T):

* ``parity_check``: number of ones so far mod 2 (2 classes);
* ``cycle_navigation``: position on the 5-cycle, ``Σ (x_i − 1) mod 5`` (5 classes);
* ``even_pairs``: ``2 · first symbol + current symbol`` (4 classes; the answer is whether
  the two differ).

``modular_arithmetic`` is skipped: its answer is not a function of a small automaton state
of the prefix in this formulation (and no recurrent model learns it in the ``cpu`` budget).
``answer(task, label)`` maps the label at the last position to the task's answer, which is
how the tests tie the labels to the tasks' own ``targets()``.
"""

from __future__ import annotations

from torch import Tensor

#: Regular tasks with automaton labels -> number of label classes.
LABEL_CLASSES = {"parity_check": 2, "cycle_navigation": 5, "even_pairs": 4}


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
    return 2 * x[:, :1] + x  # even_pairs: (first, current)


def answer(task: str, labels: Tensor) -> Tensor:
    """The task's answer implied by automaton labels (any shape), e.g. the last position's."""
    _check_task(task)
    if task == "even_pairs":
        return (labels // 2 != labels % 2).long()
    return labels.long()
