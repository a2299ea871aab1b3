"""Loading saved ``result.json`` files, grouping them by (task, model), summarising a cell."""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prlstm import models, tasks
from prlstm.experiments.evaluate import (
    FIT_THRESHOLD,
    RESULT_FILE,
    SOLVED_THRESHOLD,
    in_range_accuracy,
)
from prlstm.experiments.io import intact, read_json

Results = dict[tuple[str, str], list[dict[str, Any]]]


def _with_in_range(result: dict[str, Any]) -> dict[str, Any]:
    """Files written before ``in_range_accuracy`` existed get it (and ``fitted``) computed
    from their own saved per-length accuracies, exactly as evaluation defines it."""
    if "in_range_accuracy" in result or "train_length" not in result:
        return result
    value = in_range_accuracy(result["accuracy"], int(result["train_length"]))
    if value != value:  # no training lengths evaluated
        return result
    return {**result, "in_range_accuracy": value, "fitted": bool(value >= FIT_THRESHOLD)}


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable ``result.json`` under ``results_dir`` (each gets a ``run_dir`` key;
    older files get ``in_range_accuracy`` from their saved accuracies)."""
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
            found.append({**_with_in_range(result), "run_dir": str(path.parent)})
    return found


def _hparams(result: dict[str, Any]) -> dict[str, Any]:
    """The run's model hyper-parameters; options it predates (e.g. ``merge``) take their
    registry default, so old and new runs of one variant get the same label."""
    config = result.get("model_config") or result.get("config", {}).get("hparams", {})
    config = {**models.HPARAMS.get(result["model"], {}), **config}
    return {k: _as_json(v) for k, v in config.items()
            if k not in ("model", "input_size", "output_size")}


def _as_json(value: Any) -> Any:
    """A value as it reads back from JSON (tuples become lists), so a registry default such as
    ``mlp_layers_size=(64, 64)`` and the ``[64, 64]`` saved in result.json label alike."""
    if isinstance(value, tuple | list):
        return [_as_json(v) for v in value]
    return value


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


def group_results(results: Iterable[dict[str, Any]],
                  labels: list[str] | None = None) -> Results:
    """Results keyed by ``(task, variant label)`` (labels: :func:`variant_labels` unless
    given, one per result)."""
    results = list(results)
    groups: Results = defaultdict(list)
    for result, label in zip(results, labels or variant_labels(results), strict=True):
        groups[(result["task"], label)].append(result)
    return dict(groups)


def _ordered(names: Iterable[str], canonical: list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(canonical)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def ordered_tasks(groups: Iterable[tuple[str, str]]) -> list[str]:
    """Tasks of the ``(task, label)`` keys, in benchmark order (unknown names last)."""
    return _ordered((t for t, _ in groups), tasks.names())


def ordered_models(groups: Iterable[tuple[str, str]]) -> list[str]:
    """Model variants of the ``(task, label)`` keys, in registry order of their model
    (unknown names last)."""
    rank = {n: i for i, n in enumerate(models.names())}
    labels = {m for _, m in groups}
    return sorted(labels, key=lambda m: (rank.get(m.split(" ")[0], len(rank)), m))


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the highest score (NaN scores rank last)."""
    return max(runs, key=lambda r: -math.inf if math.isnan(r["score"]) else r["score"])


def _number(run: dict[str, Any], key: str) -> float | None:
    value = run.get(key)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number and not math.isnan(value) else None


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean (None without values) and sample std (None for fewer than two values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


@dataclass(frozen=True)
class CellSummary:
    """One (task, model) cell over its runs; scores and accuracies in percent.

    Fields from newer result files (``in_range_accuracy``, ``fitted``, ``steps_to_generalise``)
    are summarised over the runs that have them: ``*_known`` counts those runs, so a cell of old
    results has ``fit_known == 0`` and ``validated == 0``.
    """

    n: int
    best: float  # score of the best run (highest score)
    solved: bool  # the best run's score >= SOLVED_THRESHOLD
    mean: float
    std: float | None  # None for n == 1
    best_in_range: float | None  # in-range accuracy of the best run
    in_range_mean: float | None
    in_range_std: float | None
    in_range_known: int
    best_fitted: bool | None  # None: the best run's result has no ``fitted``
    fitted: int
    fit_known: int
    generalised_steps: tuple[int, ...]  # steps_to_generalise of the runs that reached it
    validated: int  # runs whose result has ``steps_to_generalise`` (validation was on)

    @property
    def median_steps(self) -> float | None:
        """Median steps to generalise over the runs that generalised (None if none did)."""
        return statistics.median(self.generalised_steps) if self.generalised_steps else None


def summarise(runs: list[dict[str, Any]]) -> CellSummary:
    """The :class:`CellSummary` of one cell's runs (at least one)."""
    if not runs:
        raise ValueError("runs must hold at least one result, got an empty list")
    best = best_run(runs)
    mean, std = _mean_std([100.0 * r["score"] for r in runs])
    in_range = [v for r in runs if (v := _number(r, "in_range_accuracy")) is not None]
    in_mean, in_std = _mean_std([100.0 * v for v in in_range])
    best_in = _number(best, "in_range_accuracy")
    fits = [r["fitted"] for r in runs if isinstance(r.get("fitted"), bool)]
    validated = [r["steps_to_generalise"] for r in runs if "steps_to_generalise" in r]
    return CellSummary(
        n=len(runs), best=100.0 * best["score"], solved=bool(best["score"] >= SOLVED_THRESHOLD),
        mean=float(mean or 0.0), std=std,
        best_in_range=None if best_in is None else 100.0 * best_in,
        in_range_mean=in_mean, in_range_std=in_std, in_range_known=len(in_range),
        best_fitted=best["fitted"] if isinstance(best.get("fitted"), bool) else None,
        fitted=sum(fits), fit_known=len(fits),
        generalised_steps=tuple(sorted(int(s) for s in validated if s is not None)),
        validated=len(validated))
