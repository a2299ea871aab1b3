"""Slow, straightforward per-sequence reference answers for all 15 tasks, written directly from
docs/benchmark.md#the-15-tasks and independent of the vectorised implementations (test helper)."""

from __future__ import annotations

import math
from collections.abc import Callable

from prlstm.tasks import Task

Answer = tuple[list[int], list[bool]]


def _single(label: int) -> Answer:
    return [label], [True]


def _terminated(bits: list[int], width: int) -> Answer:
    target = bits + [2] + [0] * (width - len(bits) - 1)
    return target, [True] * (len(bits) + 1) + [False] * (width - len(bits) - 1)


def _le_min(n: int) -> list[int]:
    return [int(c) for c in reversed(format(n, "b"))]


def _le_value(bits: list[int]) -> int:
    return sum(b << i for i, b in enumerate(bits))


def even_pairs(task: Task, x: list[int]) -> Answer:
    return _single(sum(x[i] != x[i + 1] for i in range(len(x) - 1)) % 2)


def modular_arithmetic(task: Task, x: list[int]) -> Answer:
    text = task.decode(x)
    return _single(eval(text) % task.modulus)  # trusted: digits and + - * only


def parity_check(task: Task, x: list[int]) -> Answer:
    return _single(sum(x) % 2)


def cycle_navigation(task: Task, x: list[int]) -> Answer:
    position = 0
    for action in x:
        position = (position + action - 1) % 5
    return _single(position)


def stack_manipulation(task: Task, x: list[int]) -> Answer:
    k = 0
    while k < len(x) and x[k] < 2:
        k += 1
    stack = list(x[:k])  # bottom to top
    for action in x[k:]:
        assert action >= 2, "bits after the first action are never sampled"
        if action == 2:
            if stack:
                stack.pop()
        else:
            stack.append(action - 3)
    return _terminated(stack[::-1], len(x) + 1)


def reverse_string(task: Task, x: list[int]) -> Answer:
    return x[::-1], [True] * len(x)


def modular_arithmetic_brackets(task: Task, x: list[int]) -> Answer:
    return _single(eval(task.decode(x)) % task.modulus)


def solve_equation(task: Task, x: list[int]) -> Answer:
    if len(x) < 3:
        assert x == [0] * len(x)
        return _single(0)
    lhs, rhs = task.decode(x).split("=")
    m = task.modulus
    solutions = [v for v in range(m) if eval(lhs.replace("x", f"({v})")) % m == int(rhs)]
    assert len(solutions) == 1
    return _single(solutions[0])


def duplicate_string(task: Task, x: list[int]) -> Answer:
    return x + x, [True] * (2 * len(x))


def missing_duplicate_string(task: Task, x: list[int]) -> Answer:
    if len(x) == 1:
        return _single(1)
    h = len(x) // 2
    fits = []
    for bit in (0, 1):
        filled = [bit if s == 2 else s for s in x[: 2 * h]]
        if filled[:h] == filled[h:]:
            fits.append(bit)
    assert len(fits) == 1
    return _single(fits[0])


def odds_first(task: Task, x: list[int]) -> Answer:
    return x[1::2] + x[0::2], [True] * len(x)


def _operands(x: list[int]) -> list[int]:
    parts: list[list[int]] = [[]]
    for s in x:
        if s == 2:
            parts.append([])
        else:
            parts[-1].append(s)
    return [_le_value(p) for p in parts]


def binary_addition(task: Task, x: list[int]) -> Answer:
    return _terminated(_le_min(sum(_operands(x))), len(x) + 1)


def binary_multiplication(task: Task, x: list[int]) -> Answer:
    if len(x) <= 2:
        return _terminated([] if len(x) == 1 else [0], len(x))
    a, b = _operands(x)
    return _terminated(_le_min(a * b), len(x))


def compute_sqrt(task: Task, x: list[int]) -> Answer:
    n = int("".join(map(str, x)), 2)
    width = (len(x) + 1) // 2
    return [int(c) for c in format(math.isqrt(n), f"0{width}b")], [True] * width


def bucket_sort(task: Task, x: list[int]) -> Answer:
    return sorted(x), [True] * len(x)


ORACLES: dict[str, Callable[[Task, list[int]], Answer]] = {
    f.__name__: f
    for f in (
        even_pairs, modular_arithmetic, parity_check, cycle_navigation, stack_manipulation,
        reverse_string, modular_arithmetic_brackets, solve_equation, duplicate_string,
        missing_duplicate_string, odds_first, binary_addition, binary_multiplication,
        compute_sqrt, bucket_sort,
    )
}
