"""solve_equation: solve ``expression(x) = v`` for the digit x, mod m.

Defined in docs/benchmark.md#solve_equation.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, single_label
from prlstm.tasks.expressions import ExpressionTokens, evaluate_expression, generate_expression


class SolveEquation(Task):
    """Input: ``E(L−2)`` (± only) with one digit replaced by ``x``, then ``=`` and the value.

    Token ids: digits 0..m−1, then ``+`` (m), ``-`` (m+1), ``(`` (m+2), ``)`` (m+3), ``x`` (m+4)
    and ``=`` (m+5); note the brackets differ from modular_arithmetic_brackets. The label is the
    replaced digit, which is the unique solution because x has coefficient ±1. For L < 3 the
    input is L zeros and the label 0.

    Args:
        modulus: m, between 2 and 10 (default 5).
    """

    name = "solve_equation"
    level = "dcf"
    description = "bracketed +/- equation with one unknown x, '= v'; label = x mod m"
    single_output = True

    def __init__(self, *, modulus: int = 5) -> None:
        self.modulus = check_int("modulus", modulus, minimum=2, maximum=10)
        m = self.modulus
        self.tokens = ExpressionTokens(modulus=m, plus=m, minus=m + 1, lpar=m + 2, rpar=m + 3,
                                       variable=m + 4)
        self.equals_id = m + 5
        super().__init__(symbols=(*(str(d) for d in range(m)), "+", "-", "(", ")", "x", "="),
                         output_symbols=tuple(str(d) for d in range(m)))

    @property
    def options(self) -> dict[str, object]:
        """Constructor options."""
        return {"modulus": self.modulus}

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        if length < 3:
            return np.zeros((batch_size, length), dtype=np.int64)
        n = length - 2
        # E(n) makes at most n draws, plus one for the position of x: L uniforms per sample.
        uniforms = rng.random((batch_size, length)).tolist()
        rows = []
        for u in uniforms:
            expr, value, p = generate_expression(n, self.tokens, False, u)
            i = int(u[p] * n)
            while expr[i] >= self.modulus:  # move cyclically to the next digit
                i = (i + 1) % n
            expr[i] = self.tokens.variable
            rows.append(expr + [self.equals_id, value])
        return np.array(rows, dtype=np.int64)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, t = inputs.shape
        if t < 3:
            if (inputs != 0).any():
                raise ValueError(f"inputs of solve_equation with length T = {t} < 3 must be all "
                                 "zeros (the degenerate case)")
            return single_label(np.zeros(b, dtype=np.int64))
        m, var = self.modulus, self.tokens.variable
        labels = []
        for r, row in enumerate(inputs.tolist()):
            if row[-2] != self.equals_id or row[-1] >= m:
                raise self._row_error(r, "must end with '=' and a digit")
            expr = row[:-2]
            if expr.count(var) != 1:
                raise self._row_error(r, f"must contain exactly one 'x', found "
                                         f"{expr.count(var)}")
            try:
                # Linear in x with coefficient a = ±1: value(x) = a*x + c.
                c = evaluate_expression(expr, self.tokens, 0)
                a = (evaluate_expression(expr, self.tokens, 1) - c) % m
            except ValueError as err:
                raise self._row_error(r, f"not a bracketed equation: {err}") from None
            labels.append((row[-1] - c) * a % m)  # a = a^-1 since a = ±1
        return single_label(np.array(labels, dtype=np.int64))  # (B, 1)
