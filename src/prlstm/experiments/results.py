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
from prlstm.experiments.io import intact, read_json

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
        if not intact(result):
            print(f"warning: skipping {path}: corrupt (its content does not match its digest)",
                  file=sys.stderr)
            continue
        if isinstance(result, dict) and {"task", "model", "score", "accuracy"} <= set(result):
            found.append({**result, "run_dir": str(path.parent)})
    return found


def _hparams(result: dict[str, Any]) -> dict[str, Any]:
    config = result.get("model_config") or result.get("config", {}).get("hparams", {})
    return {k: v for k, v in config.items() if k not in ("model", "input_size", "output_size")}


def variant_labels(results: list[dict[str, Any]]) -> list[str]:
    """A column label per result: the model name, plus the hyper-parameters that differ
    between runs of that model (e.g. ``pr_lstm refinements=0`` next to ``pr_lstm
    refinements=2`` in an ablation), so different variants are never pooled as seeds."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in results:
        for k, v in _hparams(r).items():
            values[(r["model"], k)].add(repr(v))
    labels = []
    for r in results:
        varying = [f"{k}={v}" for k, v in sorted(_hparams(r).items())
                   if len(values[(r["model"], k)]) > 1]
        labels.append(" ".join([r["model"], *varying]))
    return labels


def group_results(results: Iterable[dict[str, Any]]) -> Results:
    """Results keyed by ``(task, variant label)`` (see :func:`variant_labels`)."""
    results = list(results)
    groups: Results = defaultdict(list)
    for result, label in zip(results, variant_labels(results), strict=True):
        groups[(result["task"], label)].append(result)
    return dict(groups)


def _ordered(names: Iterable[str], canonical: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(canonical)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def ordered_tasks(groups: Results) -> list[str]:
    """Tasks present, in benchmark order (unknown names last)."""
    return _ordered((t for t, _ in groups), tasks.names())


def ordered_models(groups: Results) -> list[str]:
    """Model variants present, in registry order of their model (unknown names last)."""
    rank = {n: i for i, n in enumerate(models.names())}
    labels = {m for _, m in groups}
    return sorted(labels, key=lambda m: (rank.get(m.split(" ")[0], len(rank)), m))


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the highest score (NaN scores rank last)."""
    return max(runs, key=lambda r: -math.inf if math.isnan(r["score"]) else r["score"])
