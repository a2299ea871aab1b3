"""Sub-commands ``train``, ``eval``, ``sweep``, ``report`` and ``run`` of the ``prlstm`` CLI.

Errors that a user can fix (unknown names, incompatible options, mismatched or corrupt
checkpoints, unwritable directories) surface as ``ValueError`` / ``OSError`` subclasses that the
top-level dispatcher prints as one line; Ctrl-C saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from prlstm.experiments.cli_args import (
    add_run_flags,
    expand_tasks,
    hparams,
    run_fields,
    split_list,
)
from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import evaluate_run
from prlstm.experiments.presets import get_preset, make_config
from prlstm.experiments.report import write_report
from prlstm.experiments.seeding import resolve_device
from prlstm.experiments.sweep import run_sweep
from prlstm.experiments.train import train

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
    print(f"trained {config.task}/{config.model}: {summary.step} steps, "
          f"{summary.train_seconds:.1f} s on {summary.device}; run directory {run_dir}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a finished run and write its result.json."""
    if args.run_dir and args.run_dir_flag and args.run_dir != args.run_dir_flag:
        raise ValueError(f"two run directories given: {args.run_dir} and --run-dir "
                         f"{args.run_dir_flag}")
    args.run_dir = args.run_dir or args.run_dir_flag
    if not args.run_dir:
        raise ValueError("give the run directory: prlstm eval RUN_DIR (or --run-dir RUN_DIR)")
    result = evaluate_run(args.run_dir, device=args.device, progress=_progress(args))
    print(f"{result['task']}/{result['model']}: score {100 * result['score']:.1f}% over "
          f"lengths {result['train_length'] + 1}..{len(result['accuracy'])} "
          f"({'solved' if result['solved'] else 'not solved'}); "
          f"{Path(args.run_dir) / 'result.json'}")
    return 0


def _sweep_configs(args: argparse.Namespace) -> list[RunConfig]:
    preset = get_preset(args.preset) if args.preset else None
    task_names = expand_tasks(args.tasks) if args.tasks else list(preset.tasks if preset else [])
    model_names = split_list(args.models) if args.models else list(preset.models if preset else [])
    seeds = split_list(args.seeds, int) if args.seeds else list(preset.seeds if preset else [0])
    lrs = split_list(args.lrs, float) if args.lrs else list(preset.lrs if preset else [1e-3])
    if not task_names or not model_names:
        raise ValueError("give --tasks and --models (or a --preset that defines them)")
    return [_config(args, t, m, seed=s, lr=lr)
            for t in task_names for m in model_names for s in seeds for lr in lrs]


def _workers(args: argparse.Namespace, configs: list[RunConfig]) -> int:
    if args.workers is not None:
        return args.workers
    if any(resolve_device(c.device).type == "cuda" for c in configs):
        return 1
    return max(1, min(os.cpu_count() or 1, len(configs)))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run every task × model × seed × lr, skipping finished runs."""
    configs = _sweep_configs(args)
    out = Path(args.out or Path("runs") / (args.preset or "custom"))
    workers = _workers(args, configs)
    print(f"sweep: {len(configs)} runs, {workers} worker(s), results in {out}", file=sys.stderr)

    def show(summary: dict[str, Any]) -> None:
        name = f"{summary['task']}/{summary['model']} seed {summary['seed']} lr {summary['lr']:g}"
        if summary["status"] == "failed":
            print(f"  FAILED {name}: {summary['error']}", file=sys.stderr)
        else:
            print(f"  {summary['status']:7s} {name}: score {100 * summary['score']:.1f}% "
                  f"(train {summary['train_seconds']:.0f} s, eval {summary['eval_seconds']:.0f} s)",
                  file=sys.stderr)

    try:
        summaries = run_sweep(configs, out, workers=workers, progress=_progress(args),
                              on_result=show)
    except KeyboardInterrupt:
        print("sweep interrupted; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    args.results_dir = str(out)
    return 1 if any(s["status"] == "failed" for s in summaries) else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.md and plots for a results directory and print the table."""
    try:
        table, written = write_report(args.results_dir, args.report_out,
                                      plots=not args.no_plots)
    except ImportError as err:
        print(f"prlstm report: error: {err} (or pass --no-plots)", file=sys.stderr)
        return 2
    print(table)
    print(f"wrote {len(written)} file(s) to {written[0].parent}", file=sys.stderr)
    return 0


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
    parser.add_argument("--out", help="results directory (default runs/PRESET; git-ignored)")
    parser.add_argument("--workers", type=int,
                        help="parallel runs (default: CPU cores on CPU, 1 on CUDA)")
    add_run_flags(parser)
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    _add_sweep_parser(subparsers, "sweep", "train and evaluate tasks x models x seeds x lrs",
                      cmd_sweep)

    p = subparsers.add_parser("report", help="Markdown table and plots from saved results",
                              description="Markdown table and PNG plots from result.json files.")
    p.add_argument("results_dir", help="directory searched recursively for result.json")
    p.add_argument("--out", dest="report_out", help="output directory (default RESULTS/report)")
    p.add_argument("--no-plots", action="store_true", help="table only")
    p.set_defaults(func=cmd_report)

    _add_sweep_parser(subparsers, "run", "the main job: sweep (preset cpu by default) + report",
                      cmd_run)
