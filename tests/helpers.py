"""Independent oracles for the core tests (not used by the library), and a script loader."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def load_script(path: Path, name: str) -> ModuleType:
    """Import the Python file ``path`` (a script, not part of a package) as module ``name``,
    registered in ``sys.modules`` so that its dataclasses and pickling work."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def associative_scan(f: Callable[[Any, Any], Any], xs: list[Any]) -> list[Any]:
    """The odd/even recursion of ``jax.lax.associative_scan`` written from its description:
    combine adjacent pairs, recurse on the half-length sequence for the odd positions, then
    form each even position ``t >= 2`` as ``S_{t-1} ⊕ x_t``."""
    n = len(xs)
    if n < 2:
        return list(xs)
    odd = associative_scan(f, [f(xs[2 * i], xs[2 * i + 1]) for i in range(n // 2)])
    out: list[Any] = [None] * n
    out[0] = xs[0]
    for i, v in enumerate(odd):
        out[2 * i + 1] = v
    for t in range(2, n, 2):
        out[t] = f(odd[t // 2 - 1], xs[t])
    return out
