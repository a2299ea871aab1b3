"""Learning rates chosen on validation only: the test set never moves the choice.

For a (task, model variant) cell, each learning rate of a grid is trained on a few *tuning
seeds*; the chosen lr is the one with the highest mean **final validation score** (the last
``val_score`` in each run's ``train_log.csv``: accuracy on the validation slice, whose batches
come from their own seed derivation and never from the test set). Nothing here opens
``result.json``: a run's lr and seed come from its ``config.json``, its score from its log, so
the choice can be made before (or without) evaluating the tuning runs on the test set.

Rule (:func:`choose_lr`): the highest mean over the tuning seeds; means within
:data:`TIE_TOLERANCE` of the best tie, and a tie goes to the smaller lr; an lr with a missing
score (no validation row, NaN) or no runs ranks below every lr with complete scores.

The choice is recorded per cell in a JSON file (:func:`write_choice` / :func:`read_choice`):
the grid, every tuning run's validation score by lr and seed, the means and the chosen lr,
and the variant it was made for (model and hyper-parameters: the file is named by the report
label, which two variants swept apart can share), written atomically with a digest so a
damaged file is noticed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prlstm.experiments.run.io import ensure_writable_dir, read_json, sealed, write_digested_json
from prlstm.experiments.run.trainlog import read_rows

CONFIG_FILE = "config.json"  # as written by prlstm.experiments.run.train (not imported: torch-free)
CHOICE_FORMAT = 1
TIE_TOLERANCE = 1e-12
RULE = ("highest mean final validation score over the tuning seeds; means within "
        f"{TIE_TOLERANCE:g} tie and go to the smaller lr; an lr with a missing score ranks last")

Scores = dict[float, dict[int, float | None]]  # lr -> tuning seed -> final validation score


def final_validation_score(run_dir: str | Path) -> float | None:
    """The last validation score logged by the run in ``run_dir`` (its ``train_log.csv``), or
    None when it logged none (no log, validation off, or only NaN). Never the test score."""
    for row in reversed(read_rows(run_dir)):
        if math.isfinite(row.val_score):
            return float(row.val_score)
    return None


def _check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (
            math.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rates must be finite positive numbers, got {lr!r}")
    return float(lr)


def _present(score: object) -> float | None:
    """``score`` as a float, or None for a missing one (None or NaN); other values raise."""
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, int | float) or math.isinf(score):
        raise ValueError(f"validation scores must be numbers, None or NaN, got {score!r}")
    return None if math.isnan(score) else float(score)


def mean_score(scores: Iterable[float | None]) -> float | None:
    """The mean of ``scores``, or None if there are none or any is missing (None / NaN)."""
    values = [_present(s) for s in scores]
    if not values or any(v is None for v in values):
        return None
    return math.fsum(v for v in values if v is not None) / len(values)


def choose_lr(candidates: Mapping[float, Sequence[float | None]]) -> float:
    """The learning rate whose tuning seeds have the best mean final validation score.

    ``candidates`` maps each lr to its tuning runs' validation scores. Means within
    :data:`TIE_TOLERANCE` of the best tie and the smaller lr wins; an lr with no scores or a
    missing one (None / NaN) ranks below every lr with complete scores (if all are, the
    smallest lr is chosen).

    Raises:
        ValueError: no candidates, an lr that is not a finite positive number, or a score
            that is not a number, None or NaN (e.g. ``inf``).
    """
    if not candidates:
        raise ValueError("choose_lr needs at least one candidate learning rate, got none")
    means = {_check_lr(lr): mean_score(scores) for lr, scores in candidates.items()}
    known = [m for m in means.values() if m is not None]
    if not known:
        return min(means)
    best = max(known)
    return min(lr for lr, m in means.items() if m is not None and m >= best - TIE_TOLERANCE)


EDGE_CHECK_FILE = "tuning/edge_check.json"
"""Where an edge check (``results/cpu-fair/edge_check.py``) writes its summary, under a tuned
sweep's output: the cells that chose an end of their grid, tried one step further out."""


def edge_side(means: Mapping[float, float | None], chosen: float) -> str | None:
    """``"top"`` / ``"bottom"`` when ``chosen`` is the largest / smallest lr of a grid of two or
    more (``means``: lr -> mean validation score) and strictly better than every other lr
    there, so the best lr may lie outside the grid; else None."""
    if len(means) < 2 or means.get(chosen) is None:
        return None
    if any(m is not None and m >= means[chosen] for lr, m in means.items() if lr != chosen):
        return None
    return "top" if chosen == max(means) else "bottom" if chosen == min(means) else None


def _run_identity(run_dir: Path) -> tuple[float, int]:
    """``(lr, seed)`` of a run from its ``config.json``."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a run directory")
    config = read_json(path)
    try:
        lr, seed = _check_lr(config["lr"]), config["seed"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} has no lr / seed") from err
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{path} has a seed that is not an integer: {seed!r}")
    return lr, seed


def validation_scores(run_dirs: Iterable[str | Path]) -> Scores:
    """Final validation scores of tuning runs by lr and seed (lr and seed read from each
    run's ``config.json``, the score from its ``train_log.csv``; ``result.json`` is not read).

    Raises:
        FileNotFoundError: a directory has no ``config.json``.
        ValueError: two runs share an (lr, seed), or a config lacks them.
    """
    scores: Scores = {}
    for run_dir in run_dirs:
        lr, seed = _run_identity(Path(run_dir))
        per_seed = scores.setdefault(lr, {})
        if seed in per_seed:
            raise ValueError(f"two tuning runs with lr {lr:g} and seed {seed} ({run_dir})")
        per_seed[seed] = final_validation_score(run_dir)
    return {lr: dict(sorted(scores[lr].items())) for lr in sorted(scores)}


def choice_path(root: str | Path, task: str, model_label: str) -> Path:
    """Where the choice of a cell lives: ``root/tuning/<task>/<model label>.json`` (spaces in
    the label, e.g. ``pr_lstm refinements=0``, become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", model_label)
    return Path(root) / "tuning" / task / f"{safe}.json"


@dataclass(frozen=True)
class LrChoice:
    """One cell's learning-rate choice as recorded on disk."""

    task: str
    model_label: str
    grid: tuple[float, ...]
    scores: Scores  # lr -> tuning seed -> final validation score (None: missing)
    chosen: float
    variant: dict[str, Any] | None = None  # {"model", "hparams"}; None in files made before it

    @property
    def means(self) -> dict[float, float | None]:
        """Mean validation score per lr (None where a score is missing)."""
        return {lr: mean_score(self.scores[lr].values()) for lr in self.grid}


def _check_grid(grid: Iterable[float]) -> tuple[float, ...]:
    lrs = tuple(sorted(_check_lr(lr) for lr in grid))
    if not lrs:
        raise ValueError("the lr grid must hold at least one learning rate, got none")
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"the lr grid has repeated learning rates: {list(lrs)}")
    return lrs


def _check_scores(grid: tuple[float, ...],
                  per_lr_scores: Mapping[float, Mapping[int, float | None]]) -> Scores:
    scores: Scores = {}
    for lr, per_seed in per_lr_scores.items():
        seeds: dict[int, float | None] = {}
        for seed, value in per_seed.items():
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ValueError(f"seeds must be integers, got {seed!r} (lr {lr!r})")
            seeds[seed] = _present(value)
        scores[_check_lr(lr)] = dict(sorted(seeds.items()))
    if set(scores) != set(grid):
        raise ValueError(f"the scores' learning rates {sorted(scores)} are not the grid "
                         f"{list(grid)}")
    return {lr: scores[lr] for lr in grid}


def variant_of(model: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The variant a choice is made for, as recorded (hyper-parameters as JSON gives them
    back, so a recorded variant compares equal to the one it was made from)."""
    return {"model": str(model),
            "hparams": json.loads(json.dumps(dict(hparams), sort_keys=True, default=str))}


def write_choice(path: str | Path, task: str, model_label: str, grid: Iterable[float],
                 per_lr_scores: Mapping[float, Mapping[int, float | None]],
                 chosen: float, variant: Mapping[str, Any] | None = None) -> LrChoice:
    """Record a cell's choice in ``path`` (JSON, atomic, with a digest) and return it.

    ``per_lr_scores`` maps every lr of ``grid`` to ``{tuning seed: final validation score}``
    (None / NaN for a missing score; see :func:`validation_scores`). ``chosen`` must be what
    :func:`choose_lr` picks from those scores, so a file never claims a choice its own numbers
    do not support.

    Raises:
        ValueError: an empty or repeated grid, scores for other lrs than the grid, a bad seed
            or score, or ``chosen`` is not the lr the scores pick.
    """
    lrs = _check_grid(grid)
    scores = _check_scores(lrs, per_lr_scores)
    picked = choose_lr({lr: list(per_seed.values()) for lr, per_seed in scores.items()})
    if _check_lr(chosen) != picked:
        raise ValueError(f"chosen lr {chosen:g} is not the lr the validation scores pick "
                         f"({picked:g})")
    made_for = None if variant is None else variant_of(variant["model"], variant["hparams"])
    choice = LrChoice(task=task, model_label=model_label, grid=lrs, scores=scores, chosen=picked,
                      variant=made_for)
    data = {
        "format": CHOICE_FORMAT, "task": task, "model": model_label, "grid": list(lrs),
        "rule": RULE,
        "validation": [{"lr": lr, "scores": {str(s): v for s, v in scores[lr].items()},
                        "mean": choice.means[lr]} for lr in lrs],
        "chosen_lr": picked,
    }
    if made_for is not None:
        data["variant"] = made_for
    target = Path(path)
    ensure_writable_dir(target.parent)
    write_digested_json(target, data)
    return choice


def read_choice(path: str | Path) -> LrChoice:
    """The :class:`LrChoice` recorded in ``path`` by :func:`write_choice`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not valid JSON, damaged (digest mismatch), another format, or fields that do
            not hold together (e.g. a chosen lr the scores do not pick).
    """
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"lr choice file {target} not found")
    data: Any = read_json(target)
    if not sealed(data):
        raise ValueError(f"{target} is damaged: its content does not match its digest")
    if data.get("format") != CHOICE_FORMAT:
        raise ValueError(f"{target} has format {data.get('format')!r}, expected "
                         f"{CHOICE_FORMAT}")
    try:
        grid = _check_grid(data["grid"])
        scores = _check_scores(grid, {
            entry["lr"]: {int(seed): value for seed, value in entry["scores"].items()}
            for entry in data["validation"]})
        task, label, chosen = str(data["task"]), str(data["model"]), _check_lr(data["chosen_lr"])
        made_for = data.get("variant")
        if made_for is not None:
            if not isinstance(made_for.get("model"), str) or not isinstance(
                    made_for.get("hparams"), dict) or set(made_for) != {"model", "hparams"}:
                raise ValueError(f"variant must be {{'model': str, 'hparams': dict}}, got "
                                 f"{made_for!r}")
            made_for = variant_of(made_for["model"], made_for["hparams"])
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"{target} is not a valid lr choice file: {err}") from err
    picked = choose_lr({lr: list(per_seed.values()) for lr, per_seed in scores.items()})
    if chosen != picked:
        raise ValueError(f"{target} records lr {chosen:g} but its scores pick {picked:g}")
    return LrChoice(task=task, model_label=label, grid=grid, scores=scores, chosen=chosen,
                    variant=made_for)


def foreign_choice(choice: LrChoice, model: str, hparams: Mapping[str, Any]) -> str | None:
    """Why ``choice`` is not the choice of the variant ``model`` / ``hparams`` (it records
    another one), or None when it is, or records none."""
    wanted = variant_of(model, hparams)
    if choice.variant is None or choice.variant == wanted:
        return None
    return (f"made for {choice.variant['model']} {choice.variant['hparams']}, not "
            f"{wanted['model']} {wanted['hparams']}")
