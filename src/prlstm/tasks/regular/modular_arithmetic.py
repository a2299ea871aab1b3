"""modular_arithmetic: evaluate ``d op d op … d`` mod m without brackets.

Defined in docs/benchmark.md#modular_arithmetic.

Project decision: operators are drawn i.i.d. uniform over the operator set for every length (the
reference's one-shot-iterator crash is not reproduced).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prlstm.tasks.base import Task, check_int, single_label

_ALL_OPERATORS = ("+", "-", "*")


class ModularArithmetic(Task):
    """Expressions ``d0 op d1 op … dk`` of odd length T with × binding tighter than + and −.

    Token ids: digits 0..m−1, then ``+`` (m), ``-`` (m+1), ``*`` (m+2) and the never-sampled
    blank ``_`` (m+3), which reads as ``+`` in an operator slot and 0 in a digit slot.

    Args:
        modulus: m, between 2 and 10 (default 5).
        operators: the operator symbols to sample, a subset of ``"+-*"`` given as a string or a
            sequence (default all three).
    """

    name = "modular_arithmetic"
    level = "regular"
    description = "d op d op ... d with op in {+,-,*}, usual precedence; label = value mod m"
    single_output = True

    def __init__(self, *, modulus: int = 5, operators: str | Sequence[str] = "+-*") -> None:
        self.modulus = check_int("modulus", modulus, minimum=2, maximum=10)
        if not isinstance(operators, str | Sequence):
            raise TypeError(f"operators must be a string or sequence of symbols from '+-*', "
                            f"got {type(operators).__name__}")
        ops = tuple(operators)
        if not ops or len(set(ops)) != len(ops) or not set(ops) <= set(_ALL_OPERATORS):
            raise ValueError(f"operators must be distinct symbols from '+-*', got {operators!r}")
        self.operators: tuple[str, ...] = ops
        m = self.modulus
        self.plus_id, self.minus_id, self.times_id, self.blank_id = m, m + 1, m + 2, m + 3
        super().__init__(symbols=(*(str(d) for d in range(m)), "+", "-", "*", "_"),
                         output_symbols=tuple(str(d) for d in range(m)))

    @property
    def options(self) -> dict[str, object]:
        """Constructor options."""
        return {"modulus": self.modulus, "operators": "".join(self.operators)}

    def input_length(self, length: int) -> int:
        """T = L for odd L and L − 1 for even L (an expression has odd length)."""
        length = check_int("length", length, minimum=1)
        return length if length % 2 == 1 else length - 1

    def _check_input_length(self, length: int) -> None:
        if length % 2 == 0:
            raise ValueError(f"inputs of modular_arithmetic must have an odd length T, got "
                             f"T = {length}")

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        k = length // 2  # number of operators
        digits = rng.integers(0, self.modulus, (batch_size, k + 1))  # (B, k+1)
        op_ids = np.array([self.plus_id + _ALL_OPERATORS.index(o) for o in self.operators])
        choice = rng.integers(0, len(op_ids), (batch_size, k))  # (B, k)
        x = np.empty((batch_size, length), dtype=np.int64)  # (B, T)
        x[:, 0::2] = digits
        x[:, 1::2] = op_ids[choice]
        return x

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.modulus
        x = inputs
        digits = x[:, 0::2].copy()  # (B, k+1)
        ops = x[:, 1::2].copy()  # (B, k)
        digit_ok = (digits < m) | (digits == self.blank_id)
        op_ok = (ops >= self.plus_id)
        for ok, what in ((digit_ok, "a digit"), (op_ok, "an operator")):
            if not ok.all():
                row, col = np.argwhere(~ok)[0]
                pos = 2 * col + (what == "an operator")
                raise self._row_error(int(row), f"position {pos} must hold {what}, "
                                                f"got token id {int(x[row, pos])}")
        digits[digits == self.blank_id] = 0
        ops[ops == self.blank_id] = self.plus_id
        # Left-to-right with precedence: `total` holds the finished sum of terms and `term` the
        # running signed product. Reducing mod m at every step is exact (ring homomorphism).
        total = np.zeros(x.shape[0], dtype=np.int64)  # (B,)
        term = digits[:, 0] % m  # (B,)
        for j in range(ops.shape[1]):
            d = digits[:, j + 1]  # (B,)
            op = ops[:, j]  # (B,)
            is_times = op == self.times_id
            total = np.where(is_times, total, (total + term) % m)
            new_term = np.where(op == self.plus_id, d, (m - d) % m)
            term = np.where(is_times, (term * d) % m, new_term)
        return single_label((total + term) % m)  # (B, 1)
