"""The registry of the 15 benchmark tasks: :func:`names` and :func:`get`."""

from __future__ import annotations

import inspect
from typing import Any

from prlstm.tasks.base import Task
from prlstm.tasks.cs.binary_addition import BinaryAddition
from prlstm.tasks.cs.binary_multiplication import BinaryMultiplication
from prlstm.tasks.cs.bucket_sort import BucketSort
from prlstm.tasks.cs.compute_sqrt import ComputeSqrt
from prlstm.tasks.cs.duplicate_string import DuplicateString
from prlstm.tasks.cs.missing_duplicate_string import MissingDuplicateString
from prlstm.tasks.cs.odds_first import OddsFirst
from prlstm.tasks.dcf.modular_arithmetic_brackets import ModularArithmeticBrackets
from prlstm.tasks.dcf.reverse_string import ReverseString
from prlstm.tasks.dcf.solve_equation import SolveEquation
from prlstm.tasks.dcf.stack_manipulation import StackManipulation
from prlstm.tasks.regular.cycle_navigation import CycleNavigation
from prlstm.tasks.regular.even_pairs import EvenPairs
from prlstm.tasks.regular.modular_arithmetic import ModularArithmetic
from prlstm.tasks.regular.parity_check import ParityCheck

__all__ = ["names", "get", "task_class", "option_names"]

# Benchmark order, grouped by level (regular, dcf, cs).
_TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        EvenPairs,
        ModularArithmetic,
        ParityCheck,
        CycleNavigation,
        StackManipulation,
        ReverseString,
        ModularArithmeticBrackets,
        SolveEquation,
        DuplicateString,
        MissingDuplicateString,
        OddsFirst,
        BinaryAddition,
        BinaryMultiplication,
        ComputeSqrt,
        BucketSort,
    )
}


def names() -> list[str]:
    """The 15 task names in benchmark order, grouped by level (regular, dcf, cs)."""
    return list(_TASKS)


def task_class(name: str) -> type[Task]:
    """The :class:`Task` subclass registered as ``name``; ValueError lists the valid names."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(_TASKS)}") from None


def option_names(name: str) -> list[str]:
    """The options ``get(name, **options)`` accepts (keyword arguments of the task class)."""
    params = inspect.signature(task_class(name).__init__).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def get(name: str, **options: Any) -> Task:
    """Build the task ``name`` with benchmark defaults overridden by ``options``.

    Examples: ``get("parity_check")``, ``get("modular_arithmetic", modulus=7)``,
    ``get("modular_arithmetic_brackets", mult=False)``, ``get("bucket_sort", vocab_size=3)``.

    Raises:
        ValueError: unknown task name (the message lists the valid names) or bad option value.
        TypeError: unknown option name, or an option of the wrong type.
    """
    cls = task_class(name)
    valid = option_names(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"task {name!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"valid options: {', '.join(valid) if valid else 'none'}")
    return cls(**options)
