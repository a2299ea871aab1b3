"""Fully bracketed modular expressions, shared by modular_arithmetic_brackets and solve_equation.

:func:`generate_expression` is the recursive generator ``E(n)`` of
docs/benchmark.md#modular_arithmetic_brackets: a string of
exactly ``n`` tokens and its value mod m. :func:`evaluate_expression` parses such a string back
(with an optional variable leaf) and returns its value; tasks compute targets with it, so a
target is always a function of the input ids alone.

Grammar accepted by the evaluator (leaves are digits, or the variable where one is allowed)::

    expr := leaf | "-" leaf | "(" expr ")" | "(" expr op expr ")"

Both functions are iterative, so deep expressions cannot hit Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ExpressionTokens", "generate_expression", "evaluate_expression"]

# Negative markers on the evaluator's stack; operand values are >= 0.
_LPAR, _ADD, _SUB, _MUL = -1, -2, -3, -4
# Work items of the generator; sizes n >= 1 mean "generate E(n)".
_OP_SLOT, _FINISH = 0, -1


@dataclass(frozen=True)
class ExpressionTokens:
    """Token ids of one task's expression vocabulary; digits are the ids 0..modulus−1."""

    modulus: int
    plus: int
    minus: int
    lpar: int
    rpar: int
    times: int | None = None
    variable: int | None = None


def generate_expression(n: int, tokens: ExpressionTokens, mult: bool,
                        uniforms: Sequence[float], start: int = 0) -> tuple[list[int], int, int]:
    """Draw ``E(n)`` from a stream of uniforms in [0, 1).

    ``E(n)`` is the generator of docs/benchmark.md#modular_arithmetic_brackets.

    Leaves: n = 1 ``d``, 2 ``-d``, 3 ``(d)``, 4 ``(-d)``. For n >= 5: draw ℓ ~ U{1..n−4}, build
    the left part E(ℓ), then the right part E(n−3−ℓ), then draw the operator, and emit
    ``( left op right )``. Each draw consumes one uniform, in that order; at most ``n`` are used.

    Args:
        n: number of tokens, >= 1.
        tokens: the task's token ids.
        mult: whether ``*`` is among the operators (otherwise ``+`` and ``-`` only).
        uniforms: the stream; ``uniforms[start:]`` must hold at least ``n`` values.
        start: index of the first unused uniform.

    Returns:
        ``(ids, value, next_index)``: the n token ids, the value mod m, and the index of the
        first uniform left unused.
    """
    if n < 1:
        raise ValueError(f"expression length n must be >= 1, got {n}")
    if mult and tokens.times is None:
        raise ValueError("mult=True needs a '*' token id")
    m = tokens.modulus
    op_ids = [tokens.plus, tokens.minus] + ([tokens.times] if mult else [])
    n_ops = len(op_ids)
    lpar, rpar, minus, times, plus = tokens.lpar, tokens.rpar, tokens.minus, tokens.times, \
        tokens.plus
    out: list[int] = []
    values: list[int] = []  # values of finished sub-expressions
    slots: list[int] = []  # positions in `out` reserved for operators still to be drawn
    work: list[int] = [n]
    p = start
    while work:
        item = work.pop()
        if item >= 5:
            left = 1 + int(uniforms[p] * (item - 4))
            p += 1
            out.append(lpar)
            # Processed in reverse: left, operator slot, right, then combine.
            work.extend((_FINISH, item - 3 - left, _OP_SLOT, left))
        elif item >= 1:
            d = int(uniforms[p] * m)
            p += 1
            if item == 1:
                out.append(d)
                values.append(d)
            elif item == 2:
                out.extend((minus, d))
                values.append(-d % m)
            elif item == 3:
                out.extend((lpar, d, rpar))
                values.append(d)
            else:
                out.extend((lpar, minus, d, rpar))
                values.append(-d % m)
        elif item == _OP_SLOT:
            slots.append(len(out))
            out.append(plus)  # placeholder, overwritten when the operator is drawn
        else:  # _FINISH: draw the operator after both operands, as the reference does
            op = op_ids[int(uniforms[p] * n_ops)]
            p += 1
            out[slots.pop()] = op
            right = values.pop()
            left_value = values.pop()
            if op == plus:
                values.append((left_value + right) % m)
            elif op == minus:
                values.append((left_value - right) % m)
            else:
                assert op == times
                values.append((left_value * right) % m)
            out.append(rpar)
    assert len(out) == n and len(values) == 1
    return out, values[0], p


def evaluate_expression(ids: Sequence[int], tokens: ExpressionTokens,
                        variable_value: int = 0) -> int:
    """Value mod m of a fully bracketed expression (grammar in the module docstring).

    The variable token, when ``tokens.variable`` is set, is a leaf worth ``variable_value``.

    Raises:
        ValueError: the ids do not form an expression of the grammar; the message names the
            offending position.
    """
    m = tokens.modulus
    plus, minus, times = tokens.plus, tokens.minus, tokens.times
    lpar, rpar, var = tokens.lpar, tokens.rpar, tokens.variable
    stack: list[int] = []
    negate = False  # a unary minus is waiting for its leaf
    for pos, tok in enumerate(ids):
        if tok < m or tok == var:
            value = tok if tok < m else variable_value % m
            if negate:
                value = -value % m
                negate = False
            if stack and stack[-1] >= 0:
                raise ValueError(f"position {pos}: two operands in a row")
            stack.append(value)
        elif tok == minus and not (stack and stack[-1] >= 0):
            if negate:
                raise ValueError(f"position {pos}: a unary '-' must be followed by a leaf")
            negate = True
        elif tok == plus or tok == minus or (tok == times and times is not None):
            if negate:
                raise ValueError(f"position {pos}: a unary '-' must be followed by a leaf")
            if len(stack) < 2 or stack[-2] != _LPAR:
                raise ValueError(f"position {pos}: a binary operator must directly follow "
                                 "'(' and one operand")
            stack.append(_ADD if tok == plus else _SUB if tok == minus else _MUL)
        elif tok == lpar:
            if negate:
                raise ValueError(f"position {pos}: a unary '-' must be followed by a leaf")
            if stack and stack[-1] >= 0:
                raise ValueError(f"position {pos}: '(' directly after an operand")
            stack.append(_LPAR)
        elif tok == rpar:
            if negate:
                raise ValueError(f"position {pos}: a unary '-' must be followed by a leaf")
            if len(stack) >= 2 and stack[-1] >= 0 and stack[-2] == _LPAR:
                value = stack.pop()
                stack[-1] = value
            elif len(stack) >= 4 and stack[-1] >= 0 and stack[-3] >= 0 and stack[-4] == _LPAR:
                right = stack.pop()
                op = stack.pop()
                left = stack.pop()
                if op == _ADD:
                    value = (left + right) % m
                elif op == _SUB:
                    value = (left - right) % m
                else:
                    value = (left * right) % m
                stack[-1] = value
            else:
                raise ValueError(f"position {pos}: unmatched or misplaced ')'")
        else:
            raise ValueError(f"position {pos}: token id {tok} cannot appear in an expression")
    if negate or len(stack) != 1 or stack[0] < 0:
        raise ValueError("incomplete expression (unclosed '(' or missing operand)")
    return stack[0]
