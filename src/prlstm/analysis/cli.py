"""``prlstm analyze RUNS_DIR``: regenerate the analysis tables and plots from saved runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_analyze(args: argparse.Namespace) -> int:
    """Write analysis.json, analysis.md and the plots; print the Markdown."""
    from prlstm.analysis.report import write_analysis
    from prlstm.experiments.cli_args import print_written

    out = Path(args.out) if args.out else Path(args.runs_dir) / "analysis"
    return print_written("analyze", lambda: write_analysis(
        args.runs_dir, out, plots=not args.no_plots, num_lengths=args.num_lengths,
        bin_width=args.bin_width, seed=args.seed), out=out)


def register(subparsers: Any) -> None:
    """Add ``analyze`` to the top-level ``prlstm`` parser."""
    p = subparsers.add_parser(
        "analyze", help="merge table, probes and CKA from saved runs",
        description="Merge-variant table, automaton-state probes and CKA from the runs under "
                    "RUNS_DIR (probes/CKA need the runs' final checkpoints).")
    p.add_argument("runs_dir", help="directory searched recursively for result.json")
    p.add_argument("--out", help="output directory (default RUNS_DIR/analysis)")
    p.add_argument("--num-lengths", type=int, default=8,
                   help="probe/CKA inputs: the test set's N longest lengths (default 8)")
    p.add_argument("--bin-width", type=int, default=25, help="position bin of the plots")
    p.add_argument("--seed", type=int, default=0, help="probe and minibatch-CKA seed")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.set_defaults(func=cmd_analyze)
