"""Sub-commands ``train``, ``eval``, ``sweep``, ``report`` and ``run`` of the ``prlstm`` CLI.

Errors that a user can fix (unknown names, incompatible options, mismatched or corrupt
checkpoints, unwritable directories) surface as ``ValueError`` / ``OSError`` subclasses that the
top-level dispatcher prints as one line; Ctrl-C saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prlstm.experiments.cli_args import (
    add_engine_flags,
    add_run_flags,
    expand_tasks,
    hparams,
    print_written,
    run_fields,
    split_list,
)
from prlstm.experiments.orchestrate.presets import (
    get_preset,
    grid,
    make_config,
    preset_names,
)
from prlstm.experiments.orchestrate.sweep import Engine, LocalEngine, run_sweep
from prlstm.experiments.orchestrate.tuned import label_cells, run_tuned_sweep
from prlstm.experiments.reporting.report import write_report
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.distributed import is_writer
from prlstm.experiments.run.evaluate import evaluate_run
from prlstm.experiments.run.seeding import resolve_device
from prlstm.experiments.run.train import train

INTERRUPTED = 130


def _progress(args: argparse.Namespace) -> bool | None:
    return False if getattr(args, "quiet", False) else None


def _config(args: argparse.Namespace, task: str, model: str, **extra: Any) -> RunConfig:
    return make_config(task, model, args.preset, hparams=hparams(args),
                       task_options=dict(args.task_option), **run_fields(args), **extra)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run (``--resume`` continues its checkpoint)."""
    config = _config(args, args.task, args.model, seed=args.seed, lr=args.lr)
    run_dir = Path(args.run_dir) if args.run_dir else Path(args.out) / config.run_id()
    try:
        summary = train(config, run_dir, resume=args.resume, progress=_progress(args))
    except KeyboardInterrupt as err:
        print(f"{err or 'interrupted'}; continue with: prlstm train ... --resume",
              file=sys.stderr)
        return INTERRUPTED
    if is_writer():  # under torchrun, rank 0 reports
        print(f"trained {config.task}/{config.model}: {summary.step} steps, "
              f"{summary.train_seconds:.1f} s on {summary.device}; run directory {run_dir}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a finished run and write its result.json (``--lengths``: extra lengths only)."""
    if args.run_dir and args.run_dir_flag and args.run_dir != args.run_dir_flag:
        raise ValueError(f"two run directories given: {args.run_dir} and --run-dir "
                         f"{args.run_dir_flag}")
    args.run_dir = args.run_dir or args.run_dir_flag
    if not args.run_dir:
        raise ValueError("give the run directory: prlstm eval RUN_DIR (or --run-dir RUN_DIR)")
    if args.lengths:
        from prlstm.experiments.run.evaluate import evaluate_extra_lengths

        result = evaluate_extra_lengths(args.run_dir, args.lengths, per_length=args.per_length,
                                        batch_size=args.batch_size, device=args.device,
                                        progress=_progress(args))
        accuracy = result["extra_lengths"]["accuracy"]
        print(f"{result['task']}/{result['model']}: " + ", ".join(
            f"length {n}: {100 * accuracy[str(n)]:.1f}%" for n in sorted(set(args.lengths)))
            + f" ({args.per_length} sequences each; score unchanged)")
        return 0
    result = evaluate_run(args.run_dir, device=args.device, progress=_progress(args))
    print(f"{result['task']}/{result['model']}: score {100 * result['score']:.1f}% over "
          f"lengths {result['train_length'] + 1}..{len(result['accuracy'])} "
          f"({'solved' if result['solved'] else 'not solved'}); "
          f"{Path(args.run_dir) / 'result.json'}")
    return 0


def _sweep_configs(args: argparse.Namespace) -> list[RunConfig]:
    preset = get_preset(args.preset) if args.preset else None
    points = grid(preset, expand_tasks(args.tasks) if args.tasks else None,
                  split_list(args.models, flag="--models") if args.models else None,
                  split_list(args.seeds, int, "--seeds") if args.seeds else None,
                  split_list(args.lrs, float, "--lrs") if args.lrs else None)
    return [make_config(p.task, p.model, args.preset, hparams={**p.hparams, **hparams(args)},
                        task_options=dict(args.task_option), **run_fields(args), seed=p.seed,
                        lr=p.lr)
            for p in points]


def _workers(args: argparse.Namespace, configs: list[RunConfig]) -> int:
    if args.workers is not None:
        return args.workers
    if any(resolve_device(c.device).type == "cuda" for c in configs):
        return 1
    return max(1, min(os.cpu_count() or 1, len(configs)))


def _engine(args: argparse.Namespace, configs: list[RunConfig]) -> tuple[Engine, str]:
    """The engine the flags ask for, and a description for the sweep's first line."""
    ray_only = {"--address": args.address, "--storage": args.storage,
                "--cpus-per-run": args.cpus_per_run, "--gpus-per-run": args.gpus_per_run,
                "--max-retries": args.max_retries}
    if args.engine == "local":
        given = [flag for flag, value in ray_only.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} needs --engine ray")
        workers = _workers(args, configs)
        show = _progress(args) is None and sys.stderr.isatty()
        return LocalEngine(workers, progress=show), f"{workers} worker(s)"
    if args.workers is not None:
        raise ValueError("--workers is for --engine local; with --engine ray use --cpus-per-run")
    from prlstm.experiments.orchestrate.ray_engine import RayEngine

    cpus = 1.0 if args.cpus_per_run is None else args.cpus_per_run
    gpus = 0.0 if args.gpus_per_run is None else args.gpus_per_run
    engine = RayEngine(args.address, cpus_per_run=cpus, gpus_per_run=gpus, storage=args.storage,
                       max_retries=3 if args.max_retries is None else args.max_retries)
    where = f"Ray at {args.address}" if args.address else "a local Ray instance"
    return engine, (f"{where}, {cpus:g} CPU + {gpus:g} GPU per run"
                    + (f", storage {args.storage}" if args.storage else ""))


@dataclass(frozen=True)
class Tuning:
    """How a sweep chooses its lrs on validation: the lr grid, the tuning seeds and the
    reporting seeds (default when not given on the command line)."""

    lrs: list[float]
    seeds: list[int]
    reporting_seeds: list[int]


#: tuning seed when neither ``--tune-seeds`` nor the preset names one (kept apart from the
#: default reporting seed 0)
DEFAULT_TUNE_SEED = 100


def _tuned(args: argparse.Namespace) -> Tuning | None:
    """The tuning of this sweep: ``--tune-lrs`` (with ``--tune-seeds``), else a preset with
    ``tune_lrs`` when no ``--lrs`` is given; ``None``: an ordinary sweep."""
    preset = get_preset(args.preset) if args.preset else None
    lrs = split_list(args.tune_lrs, float, "--tune-lrs") if args.tune_lrs else None
    seeds = split_list(args.tune_seeds, int, "--tune-seeds") if args.tune_seeds else None
    if lrs and args.lrs:
        raise ValueError("--lrs and --tune-lrs exclude each other: a tuned sweep chooses each "
                         "cell's lr from --tune-lrs")
    if lrs is None and preset is not None and preset.tune_lrs and not args.lrs:
        lrs = list(preset.tune_lrs)
    if lrs is None:
        if seeds:
            raise ValueError("--tune-seeds needs --tune-lrs (or a preset that tunes, "
                             "such as cpu-fair, without --lrs)")
        return None
    if seeds is None:
        seeds = list(preset.tune_seeds) if preset and preset.tune_seeds else [DEFAULT_TUNE_SEED]
    reporting = list(preset.seeds) if preset is not None else [0]
    return Tuning(lrs, seeds, reporting)


def _run_tuned(args: argparse.Namespace, tuning: Tuning, out: Path, engine: Engine,
               show: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Tune each cell's lr on validation, then train the reporting seeds at it."""
    preset = get_preset(args.preset) if args.preset else None
    points = grid(preset, expand_tasks(args.tasks) if args.tasks else None,
                  split_list(args.models, flag="--models") if args.models else None, [0],
                  [tuning.lrs[0]])
    cells = label_cells([(p.task, p.model, {**p.hparams, **hparams(args)}) for p in points])

    def make(task: str, model: str, hp: dict[str, Any], seed: int, lr: float) -> RunConfig:
        return make_config(task, model, args.preset, hparams=hp,
                           task_options=dict(args.task_option), **run_fields(args), seed=seed,
                           lr=lr)

    seeds = split_list(args.seeds, int, "--seeds") if args.seeds else tuning.reporting_seeds
    summaries, chosen = run_tuned_sweep(
        cells, make, out, tune_lrs=tuning.lrs, tune_seeds=tuning.seeds,
        seeds=seeds, engine=engine, progress=bool(_progress(args)), on_result=show)
    for (task, label), lr in chosen.items():
        note = f"lr {lr:g}" if lr is not None else "not chosen (a tuning run failed)"
        print(f"  tuned   {task}/{label}: {note}", file=sys.stderr)
    return summaries


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run every task × model × seed × lr, skipping finished runs."""
    tuned = _tuned(args)
    configs = _sweep_configs(args)
    out = Path(args.out or Path("runs") / (args.preset or "custom"))
    engine, where = _engine(args, configs)
    if tuned is not None:
        cells = len({(c.task, c.model, json.dumps(c.hparams, sort_keys=True, default=str))
                     for c in configs})
        seeds = len(split_list(args.seeds, int, "--seeds")) if args.seeds else len(
            tuned.reporting_seeds)
    what = (f"{len(configs)} runs" if tuned is None else
            f"lr tuning over {tuned.lrs} (seeds {tuned.seeds}), then "
            f"{cells * seeds} runs at the chosen lrs")
    print(f"sweep: {what} on {where}, results in {out}", file=sys.stderr)

    def show(summary: dict[str, Any]) -> None:
        name = f"{summary['task']}/{summary['model']} seed {summary['seed']} lr {summary['lr']:g}"
        if summary["status"] == "failed":
            print(f"  FAILED {name}: {summary['error']}", file=sys.stderr)
        else:
            resumed = summary.get("resumed_from")
            note = f", resumed from step {resumed}" if resumed else ""
            host = f" on {summary['host']}" if "host" in summary else ""
            if "score" not in summary:  # a tuning run: validated, never tested
                val = summary.get("val_score")
                what = "no validation score" if val is None else f"validation {100 * val:.1f}%"
                print(f"  {summary['status']:7s} {name} (tuning): {what} "
                      f"(train {summary.get('train_seconds') or 0:.0f} s{note}){host}",
                      file=sys.stderr)
                return
            print(f"  {summary['status']:7s} {name}: score {100 * summary['score']:.1f}% "
                  f"(train {summary['train_seconds']:.0f} s, eval {summary['eval_seconds']:.0f} s"
                  f"{note}){host}", file=sys.stderr)

    try:
        if tuned is not None:
            summaries = _run_tuned(args, tuned, out, engine, show)
        else:
            summaries = run_sweep(configs, out, engine=engine, progress=_progress(args),
                                  on_result=show)
    except KeyboardInterrupt:
        print("sweep interrupted; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    except (ImportError, ConnectionError) as err:
        print(f"prlstm {args.command}: error: {err}", file=sys.stderr)
        return 2
    args.results_dir = str(out)
    return 1 if any(s["status"] == "failed" for s in summaries) else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.md and plots for a results directory and print the table."""
    return print_written("report", lambda: write_report(
        args.results_dir, args.report_out, plots=not args.no_plots,
        published=getattr(args, "published", False),
        preset=getattr(args, "report_preset", None),
        reference=getattr(args, "reference", None)), hint=" (or pass --no-plots)")


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Re-train a saved run from its config.json and compare every number."""
    from prlstm.experiments.orchestrate.reproduce import describe, reproduce

    rep = reproduce(args.run_dir, args.work_dir, progress=_progress(args))
    print(describe(rep))
    return 0 if rep.exact else 1


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: sweep (default preset cpu) then report."""
    args.preset = args.preset or "cpu"
    status = cmd_sweep(args)
    if status == INTERRUPTED:
        return status
    report_status = cmd_report(args)
    return status or report_status


def _add_sweep_parser(sub: Any, name: str, help_text: str, func: Any) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--tasks", nargs="+", help="task names or groups (regular, dcf, cs, all)")
    parser.add_argument("--models", nargs="+", help="model names")
    parser.add_argument("--seeds", nargs="+", help="training seeds (default 0)")
    parser.add_argument("--lrs", nargs="+", help="learning rates (default 1e-3)")
    parser.add_argument("--tune-lrs", nargs="+", metavar="LR",
                        help="choose each cell's lr from these on validation (tuning seeds "
                        "first, then --seeds at the chosen lr; needs --val-every)")
    parser.add_argument("--tune-seeds", nargs="+", metavar="SEED",
                        help=f"seeds of the tuning runs (default: the preset's, else "
                        f"{DEFAULT_TUNE_SEED}); never the reporting seeds")
    parser.add_argument("--out", help="results directory (default runs/PRESET; git-ignored)")
    parser.add_argument("--workers", type=int,
                        help="parallel runs (default: CPU cores on CPU, 1 on CUDA)")
    add_run_flags(parser)
    add_engine_flags(parser)
    if name == "run":
        parser.add_argument("--report-out", help="report directory (default OUT/report)")
        parser.add_argument("--no-plots", action="store_true", help="table only")
    parser.set_defaults(func=func)


def register(subparsers: Any) -> None:
    """Add the experiment sub-commands to the top-level ``prlstm`` parser."""
    p = subparsers.add_parser("train", help="train one model on one task",
                              description="Train one model on one task.")
    p.add_argument("--task", required=True, help="task name (prlstm tasks list)")
    p.add_argument("--model", required=True, help="model name")
    p.add_argument("--seed", type=int, help="training seed (default 0)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--out", default="runs", help="root of run directories (default runs/)")
    p.add_argument("--run-dir", help="use this run directory instead of OUT/<run id>")
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    add_run_flags(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("eval", help="evaluate a trained run (writes result.json)",
                              description="Evaluate a trained run at lengths 1..M.")
    p.add_argument("run_dir", nargs="?", help="a run directory made by prlstm train")
    p.add_argument("--run-dir", dest="run_dir_flag", metavar="RUN_DIR",
                   help="the same, as a flag (as in prlstm train --run-dir)")
    p.add_argument("--device", help="evaluate on this device instead of the run's")
    p.add_argument("--lengths", type=int, nargs="+", metavar="L",
                   help="only evaluate these extra lengths beyond M (e.g. 1000 2000 5000 "
                   "10000) and add them to result.json; the score is unchanged")
    p.add_argument("--per-length", type=int, default=16,
                   help="sequences per extra length (default 16)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="batch size for extra lengths (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    _add_sweep_parser(subparsers, "sweep", "train and evaluate tasks x models x seeds x lrs",
                      cmd_sweep)

    p = subparsers.add_parser("report", help="Markdown table and plots from saved results",
                              description="Markdown table and PNG plots from result.json files.")
    p.add_argument("results_dir", help="directory searched recursively for result.json")
    p.add_argument("--out", dest="report_out", help="output directory (default RESULTS/report)")
    p.add_argument("--no-plots", action="store_true", help="table only")
    p.add_argument("--published", action="store_true",
                   help="add the published 1M-step scores (marked as such) for comparison")
    p.add_argument("--preset", dest="report_preset", choices=preset_names(),
                   help="show every cell of this preset's grid ('not run yet' where no run "
                        "finished) and a finished/planned progress table")
    p.add_argument("--reference", help="variant the fair-comparison pairs test against "
                   "(default: the first pr_lstm variant); a variant of another model is "
                   "tested against the width of this model nearest to it in parameter count")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("reproduce", help="re-train a saved run and compare its numbers",
                              description="Re-train a finished run from its config.json in a "
                              "temporary directory and compare score, accuracy at every length "
                              "and the training log with the saved ones (exit 1 if any differ).")
    p.add_argument("run_dir", help="a run directory with config.json and result.json")
    p.add_argument("--work-dir", help="where the temporary run goes (default: system temp)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)

    _add_sweep_parser(subparsers, "run", "the main job: sweep (preset cpu by default) + report",
                      cmd_run)
