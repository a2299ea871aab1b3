"""modular_arithmetic_brackets: value of a random bracketed expression.

Defined in docs/benchmark.md#modular_arithmetic_brackets.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, single_label
from prlstm.tasks.expressions import ExpressionTokens, evaluate_expression, generate_expression


class ModularArithmeticBrackets(Task):
    """Input: ``E(L)``, a fully bracketed expression of exactly L tokens; label: its value mod m.

    Token ids: digits 0..m−1, then ``+`` (m), ``-`` (m+1, binary or unary before a digit),
    ``*`` (m+2, kept in the vocabulary even when ``mult=False``), ``(`` (m+3), ``)`` (m+4) and
    ``x`` (m+5, reserved, never sampled and rejected by :meth:`targets`).

    Args:
        modulus: m, between 2 and 10 (default 5).
        mult: whether ``*`` is sampled (default True, as registered by the benchmark).
    """

    name = "modular_arithmetic_brackets"
    level = "dcf"
    description = "random fully bracketed expression over {+,-,*} (unary - on digits); " \
                  "label = value mod m"
    single_output = True

    def __init__(self, *, modulus: int = 5, mult: bool = True) -> None:
        self.modulus = check_int("modulus", modulus, minimum=2, maximum=10)
        if not isinstance(mult, bool):
            raise TypeError(f"mult must be a bool, got {type(mult).__name__} {mult!r}")
        self.mult = mult
        m = self.modulus
        self.tokens = ExpressionTokens(modulus=m, plus=m, minus=m + 1, times=m + 2, lpar=m + 3,
                                       rpar=m + 4)
        super().__init__(symbols=(*(str(d) for d in range(m)), "+", "-", "*", "(", ")", "x"),
                         output_symbols=tuple(str(d) for d in range(m)))

    @property
    def options(self) -> dict[str, object]:
        """Constructor options."""
        return {"modulus": self.modulus, "mult": self.mult}

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        # E(L) makes at most L draws; one row of uniforms per sample keeps samples independent.
        uniforms = rng.random((batch_size, length)).tolist()
        rows = [generate_expression(length, self.tokens, self.mult, u)[0] for u in uniforms]
        return np.array(rows, dtype=np.int64)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = []
        for r, row in enumerate(inputs.tolist()):
            try:
                labels.append(evaluate_expression(row, self.tokens))
            except ValueError as err:
                raise self._row_error(r, f"not a bracketed expression: {err}") from None
        return single_label(np.array(labels, dtype=np.int64))  # (B, 1)
