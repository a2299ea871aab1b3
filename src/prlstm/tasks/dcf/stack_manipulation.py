"""stack_manipulation: run POP/PUSH actions on an initial stack.

Defined in docs/benchmark.md#stack_manipulation.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, mask_through_terminator

POP, PUSH0, PUSH1 = 2, 3, 4
TERMINATOR = 2


class StackManipulation(Task):
    """Input: an initial stack (bits, bottom to top) followed by actions; target: the final stack.

    Token ids: 0 and 1 are stack bits, 2 is POP (``-``), 3 is PUSH 0 (``a``), 4 is PUSH 1
    (``b``). POP on an empty stack is ignored. The target lists the final stack top to bottom,
    then the termination token 2, then 0-padding up to T_out = T + 1; the mask covers the stack
    and the terminator.

    The target is defined for any sequence of these ids: a bit token pushes itself, which for a
    sampled input (bits first) is the same as starting from that stack.
    """

    name = "stack_manipulation"
    level = "dcf"
    description = "stack bits (bottom..top) then actions - (pop) a (push 0) b (push 1); " \
                  "target = final stack top..bottom, $"
    output_length_text = "T+1"

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1", "-", "a", "b"), output_symbols=("0", "1", "$"))

    def output_length(self, length: int) -> int:
        """T_out = T + 1."""
        return check_int("length", length, minimum=1) + 1

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        # k ~ U{1..L-1} initial stack bits (k = 1 when L = 1), then L - k actions ~ U{2,3,4}.
        k = rng.integers(1, max(length, 2), (batch_size, 1))  # (B, 1)
        bits = rng.integers(0, 2, (batch_size, length), dtype=np.int8)  # (B, T)
        actions = rng.integers(POP, PUSH1 + 1, (batch_size, length), dtype=np.int8)  # (B, T)
        return np.where(np.arange(length)[None, :] < k, bits, actions)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, t = inputs.shape
        is_push = inputs != POP  # (B, T)
        # Depth after each step with POP on empty ignored: the ±1 walk S reflected at 0,
        # d_t = S_t - min(0, min_{s<=t} S_s). int32 halves the memory traffic of int64.
        depth = np.cumsum(is_push.astype(np.int8) * np.int8(2) - np.int8(1), axis=1,
                          dtype=np.int32)  # (B, T) the walk S
        floor = np.minimum.accumulate(depth, axis=1)  # (B, T)
        np.minimum(floor, 0, out=floor)
        depth -= floor  # (B, T) now the depth d
        # A push survives iff the depth never drops below its level afterwards; the survivors
        # are exactly one push per level 1..D (D = final depth), in time order bottom to top.
        suffix_min = np.minimum.accumulate(depth[:, ::-1], axis=1)[:, ::-1]  # (B, T)
        rows, steps = np.nonzero(is_push & (suffix_min == depth))  # survivors
        final_depth = depth[:, -1].astype(np.int64)  # (B,)
        values = inputs[rows, steps]  # surviving push tokens: 0, 1, PUSH0 or PUSH1
        targets = np.zeros((b, t + 1), dtype=np.int64)  # (B, T+1), top of the stack first
        targets[rows, final_depth[rows] - depth[rows, steps]] = np.where(values >= PUSH0,
                                                                          values - PUSH0, values)
        targets[np.arange(b), final_depth] = TERMINATOR
        return mask_through_terminator(targets, TERMINATOR)
