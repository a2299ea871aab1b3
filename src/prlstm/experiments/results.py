"""Loading saved ``result.json`` files and grouping them by (task, model)."""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prlstm import models, tasks
from prlstm.experiments.evaluate import RESULT_FILE
from prlstm.experiments.io import read_json

Results = dict[tuple[str, str], list[dict[str, Any]]]


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable ``result.json`` under ``results_dir`` (each gets a ``run_dir`` key)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist")
    found = []
    for path in sorted(root.rglob(RESULT_FILE)):
        try:
            result = read_json(path)
        except (ValueError, OSError) as err:
            print(f"warning: skipping {path}: {err}", file=sys.stderr)
            continue
        if isinstance(result, dict) and {"task", "model", "score", "accuracy"} <= set(result):
            found.append({**result, "run_dir": str(path.parent)})
    return found


def group_results(results: Iterable[dict[str, Any]]) -> Results:
    """Results keyed by ``(task, model)``."""
    groups: Results = defaultdict(list)
    for result in results:
        groups[(result["task"], result["model"])].append(result)
    return dict(groups)


def _ordered(names: Iterable[str], canonical: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(canonical)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def ordered_tasks(groups: Results) -> list[str]:
    """Tasks present, in benchmark order (unknown names last)."""
    return _ordered((t for t, _ in groups), tasks.names())


def ordered_models(groups: Results) -> list[str]:
    """Models present, in registry order (unknown names last)."""
    return _ordered((m for _, m in groups), models.names())


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the highest score (NaN scores rank last)."""
    return max(runs, key=lambda r: -math.inf if math.isnan(r["score"]) else r["score"])
