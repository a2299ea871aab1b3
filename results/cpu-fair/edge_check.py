"""Beyond the lr grid: would the next lr outward have won the cells that chose an edge?

In cpu-fair, a cell whose chosen lr is the largest (3e-3) or smallest (3e-4) of the grid and
strictly better there than at the other two may have its best lr outside the grid. For each
such cell this trains the tuning seed once more at the next half-decade outward (1e-2 above,
1e-4 below), exactly as a tuning run (validated, never scored on the test set), and records
whether the tuning rule (``choose_lr``: best mean final validation score, ties to the smaller
lr) would have picked it over the chosen lr. A run that diverges at the outward lr has no
score, which the rule ranks below every scored lr; the summary records the error. A
diagnostic only: the choice files and the reporting runs stay as they are.

    python results/cpu-fair/edge_check.py RUNS_DIR [--workers 2]   # train, then write the JSON
    python results/cpu-fair/edge_check.py RUNS_DIR --no-train      # only write the JSON

RUNS_DIR is the sweep's ``--out`` (``results/cpu-fair/runs``). The new runs go where the tuning
runs are (``RUNS_DIR/tuning/runs``); the summary goes to ``RUNS_DIR/tuning/edge_check.json``.
An interrupted check resumes like any sweep. Do not run it while a sweep trains tuning runs
in the same directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prlstm.experiments.orchestrate.presets import get_preset, grid, make_config
from prlstm.experiments.orchestrate.sweep import run_sweep, trained
from prlstm.experiments.orchestrate.tuned import Cell, label_cells, tuning_configs
from prlstm.experiments.orchestrate.tuning import (
    choice_path,
    choose_lr,
    edge_side,
    mean_score,
    read_choice,
    validation_scores,
)
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.io import read_json, write_digested_json

PRESET = "cpu-fair"
OUTWARD = {"top": 1e-2, "bottom": 1e-4}
SUMMARY = Path("tuning") / "edge_check.json"


def make(task: str, model: str, hparams: dict[str, Any], seed: int, lr: float) -> RunConfig:
    """A run of the preset, as ``prlstm sweep --preset cpu-fair`` makes it."""
    return make_config(task, model, PRESET, hparams=hparams, task_options={}, seed=seed, lr=lr)


def cells() -> list[Cell]:
    """The preset's cells with the labels of its choice files."""
    preset = get_preset(PRESET)
    points = grid(preset, seeds=[0], lrs=[preset.tune_lrs[0]])
    return label_cells([(p.task, p.model, dict(p.hparams)) for p in points])


def edge_cells(root: Path) -> list[tuple[Cell, str, list[RunConfig]]]:
    """Every cell whose recorded choice is a strict edge, its side and its outward runs."""
    seeds = list(get_preset(PRESET).tune_seeds)
    found = []
    for cell in cells():
        choice = read_choice(choice_path(root, cell.task, cell.label))
        side = edge_side(choice.means, choice.chosen)
        if side is None:
            continue
        grid_runs = tuning_configs([cell], make, [choice.chosen], seeds)
        if not all((root / "tuning" / "runs" / c.run_id()).is_dir() for c in grid_runs):
            raise SystemExit(f"{cell.task}/{cell.label}: no tuning run at the chosen lr under "
                             f"{root / 'tuning' / 'runs'}; is RUNS_DIR a cpu-fair sweep's --out?")
        found.append((cell, side, tuning_configs([cell], make, [OUTWARD[side]], seeds)))
    return found


def summary(root: Path, found: list[tuple[Cell, str, list[RunConfig]]],
            diverged: dict[str, str] | None = None) -> dict[str, Any]:
    """What each edge cell's outward lr scored, and whether the tuning rule picks it.

    ``diverged`` maps the run id of a run whose training diverged to its error: such a run has
    no validation score, which the tuning rule ranks below every scored lr (so it never wins).
    """
    diverged = diverged or {}
    runs_root = root / "tuning" / "runs"
    rows = []
    for cell, side, configs in found:
        choice = read_choice(choice_path(root, cell.task, cell.label))
        failed = {c.run_id(): diverged[c.run_id()] for c in configs if c.run_id() in diverged}
        ok = [c for c in configs if c.run_id() not in failed]
        done = all(trained(runs_root / c.run_id(), c) for c in ok)
        outward = OUTWARD[side]
        scores = validation_scores(runs_root / c.run_id() for c in ok) if done and ok else {}
        outward_scores = list(scores.get(outward, {}).values()) + [None] * len(failed)
        candidates = {lr: list(per_seed.values()) for lr, per_seed in choice.scores.items()}
        candidates[outward] = outward_scores
        rows.append({
            "task": cell.task, "variant": cell.label, "side": side, "chosen_lr": choice.chosen,
            "chosen_mean": choice.means[choice.chosen], "outward_lr": outward,
            "outward_mean": mean_score(outward_scores) if done else None, "finished": done,
            "diverged": failed or None,
            "outward_wins": choose_lr(candidates) == outward if done else None,
        })
    finished = [r for r in rows if r["finished"]]
    return {"preset": PRESET, "outward": OUTWARD, "tuning_seeds": list(get_preset(PRESET)
                                                                      .tune_seeds),
            "rule": "the tuning rule (choose_lr) over the grid plus the outward lr; a diverged "
                    "run has no score and ranks below every scored lr",
            "edge_cells": len(rows), "finished": len(finished),
            "diverged": sum(bool(r["diverged"]) for r in finished),
            "outward_wins": sum(bool(r["outward_wins"]) for r in finished), "cells": rows}


def recorded_divergences(path: Path) -> dict[str, str]:
    """The diverged runs an earlier summary recorded (none when there is no readable one)."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return {}
    return {run_id: error for row in data.get("cells", []) if isinstance(row, dict)
            for run_id, error in (row.get("diverged") or {}).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", type=Path, help="the cpu-fair sweep's --out")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-train", action="store_true", help="only write the summary")
    args = parser.parse_args(argv)
    root = args.runs_dir
    found = edge_cells(root)
    diverged = recorded_divergences(root / SUMMARY)
    if not args.no_train:
        for run in run_sweep([c for _, _, configs in found for c in configs],
                             root / "tuning" / "runs", workers=args.workers, progress=False):
            if run["status"] == "failed" and "diverged" in str(run.get("error")):
                diverged[run["run_id"]] = str(run["error"])
            elif run["status"] == "failed":
                print(f"failed: {run['run_id']}: {run.get('error')}", file=sys.stderr)
            else:
                diverged.pop(run["run_id"], None)
    data = summary(root, found, diverged)
    (root / SUMMARY).parent.mkdir(parents=True, exist_ok=True)
    write_digested_json(root / SUMMARY, data)
    print(f"{data['edge_cells']} edge cells, {data['finished']} checked ({data['diverged']} "
          f"diverged at the outward lr): the outward lr wins {data['outward_wins']}; wrote "
          f"{root / SUMMARY}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
