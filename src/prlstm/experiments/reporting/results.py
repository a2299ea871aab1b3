"""Loading saved ``result.json`` files, grouping them by (task, model), summarising a cell."""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prlstm import models, tasks
from prlstm.experiments.run.config import MAX_WIDTH, WIDTH_HPARAMS
from prlstm.experiments.run.evaluate import (
    FIT_THRESHOLD,
    RESULT_FILE,
    SOLVED_THRESHOLD,
    in_range_accuracy,
)
from prlstm.experiments.run.io import intact, read_json
from prlstm.naming import IMPORT_PATH_RE, NAME_RE

Results = dict[tuple[str, str], list[dict[str, Any]]]
REQUIRED_FIELDS = ("task", "model", "score", "accuracy", "train_length")


def _with_in_range(result: dict[str, Any]) -> dict[str, Any]:
    """Files written before ``in_range_accuracy`` existed get it (and ``fitted``) computed
    from their own saved per-length accuracies, exactly as evaluation defines it."""
    if "in_range_accuracy" in result or "train_length" not in result:
        return result
    value = in_range_accuracy(result["accuracy"], int(result["train_length"]))
    if value != value:  # no training lengths evaluated
        return result
    return {**result, "in_range_accuracy": value, "fitted": bool(value >= FIT_THRESHOLD)}


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _fraction(value: Any) -> bool:
    """An accuracy: NaN (nothing scored) or a number in [0, 1]."""
    return _real(value) and (math.isnan(value) or 0.0 <= value <= 1.0 + 1e-9)


def _fractions(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_fraction(v) for v in value)


def _extra_lengths(value: Any) -> bool:
    accuracy = value.get("accuracy", {}) if isinstance(value, dict) else None
    return isinstance(accuracy, dict) and all(
        k.isdigit() and _fraction(v) for k, v in accuracy.items()) and (
        value.get("per_length") is None or _whole(value.get("per_length"), 1))


def _widths(value: Any) -> bool:
    """A dict of model options whose widths are sane (the report may build the model to
    count its parameters)."""
    return isinstance(value, dict) and all(
        value.get(k) is None or (_whole(value.get(k), 1) and value.get(k) <= MAX_WIDTH)
        for k in WIDTH_HPARAMS)


def _config(value: Any) -> bool:
    """The parts of a saved RunConfig the report reads."""
    if not isinstance(value, dict):
        return False
    decay, steps, per_length = (value.get(k) for k in ("lr_decay_fraction", "steps",
                                                        "eval_per_length"))
    return (_widths(value.get("hparams", {})) and isinstance(value.get("task_options", {}), dict)
            and (decay is None or (_real(decay) and 0.0 <= decay <= 1.0))
            and (steps is None or _whole(steps, 0))
            and (per_length is None or _whole(per_length, 1)))


def _validation(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("lengths", []), list)


# field -> (check, what was expected); REQUIRED_FIELDS must be present, the others may be
# absent, and those marked optional below may also be null.
_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task": (lambda v: isinstance(v, str) and bool(NAME_RE.fullmatch(v)),
             "a task name (letters, digits, _ - and inner dots)"),
    "model": (lambda v: isinstance(v, str) and bool(NAME_RE.fullmatch(v)
                                                    or IMPORT_PATH_RE.fullmatch(v)),
              "a model name or an import path package.module:factory"),
    "score": (_fraction, "a number in [0, 1] (or NaN)"),
    "accuracy": (_fractions, "a non-empty list of numbers in [0, 1]"),
    "lengths": (lambda v: isinstance(v, list) and all(_whole(n, 1) for n in v),
                "a list of positive integers"),
    "train_length": (lambda v: _whole(v, 1), "a positive integer"),
    "seed": (lambda v: _whole(v, 0), "a non-negative integer"),
    "lr": (lambda v: _real(v) and math.isfinite(v), "a finite number"),
    "steps": (lambda v: _whole(v, 0), "a non-negative integer"),
    "level": (lambda v: isinstance(v, str), "a string"),
    "run_id": (lambda v: isinstance(v, str), "a string"),
    "in_range_accuracy": (_fraction, "a number in [0, 1]"),
    "fitted": (lambda v: isinstance(v, bool), "true or false"),
    "solved": (lambda v: isinstance(v, bool), "true or false"),
    "steps_to_generalise": (lambda v: _whole(v, 0), "a non-negative integer"),
    "parameters": (lambda v: _whole(v, 0), "a non-negative integer"),
    "train_seconds": (_real, "a number"),
    "train_cpu_seconds": (_real, "a number"),
    "eval_seconds": (_real, "a number"),
    "model_config": (_widths, f"a JSON object (widths at most {MAX_WIDTH})"),
    "config": (_config, "a run config (hparams and task_options objects, lr_decay_fraction "
               "in [0, 1], integer steps and eval_per_length)"),
    "validation": (_validation, "a JSON object with a list of lengths"),
    "extra_lengths": (_extra_lengths, "{accuracy: {length: number in [0, 1]}, per_length}"),
}
_NULLABLE = {"lr", "in_range_accuracy", "fitted", "solved", "steps_to_generalise", "run_id",
             "parameters", "train_seconds", "train_cpu_seconds", "eval_seconds", "validation",
             "extra_lengths"}


def result_problem(result: Any) -> str | None:
    """Why ``result`` (a parsed ``result.json``) cannot be reported, in a few words naming the
    field, its value and what was expected; None for a usable result."""
    if not isinstance(result, dict):
        return f"holds {type(result).__name__}, expected a JSON object"
    missing = [k for k in REQUIRED_FIELDS if k not in result]
    if missing:
        return f"field {missing[0]!r} is missing"
    for key, (check, expected) in _FIELDS.items():
        if key not in result or (result[key] is None and key in _NULLABLE):
            continue
        if not check(result[key]):
            return f"field {key!r} is {result[key]!r:.80}, expected {expected}"
    lengths = result.get("lengths")
    if lengths is not None and len(lengths) != len(result["accuracy"]):
        return (f"field 'lengths' has {len(lengths)} entries, expected one per accuracy "
                f"({len(result['accuracy'])})")
    return None


TUNING_DIR = "tuning"


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable ``result.json`` under ``results_dir`` (each gets a ``run_dir`` key;
    older files get ``in_range_accuracy`` from their saved accuracies). Runs below a folder
    named ``tuning`` are a tuned sweep's learning-rate tuning runs and are left out.

    A file that is not valid JSON, does not match its digest, or whose fields are missing or
    of the wrong type (see :func:`result_problem`; task and model names must be names, since
    they become file names) is skipped with a one-line warning naming the file and field."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist")
    found = []
    for path in sorted(root.rglob(RESULT_FILE)):
        if TUNING_DIR in path.relative_to(root).parts[:-1]:
            continue
        try:
            result = read_json(path)
        except (ValueError, OSError) as err:
            print(f"warning: skipping {path}: {err}", file=sys.stderr)
            continue
        if not intact(result):
            print(f"warning: skipping {path}: corrupt (its content does not match its digest)",
                  file=sys.stderr)
            continue
        problem = result_problem(result)
        if problem is not None:
            print(f"warning: skipping {path}: {problem}", file=sys.stderr)
            continue
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
