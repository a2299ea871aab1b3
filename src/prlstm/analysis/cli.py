"""``prlstm analyze RUNS_DIR``: regenerate the analysis tables and plots from saved runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_analyze(args: argparse.Namespace) -> int:
    """Write analysis.json, analysis.md and the plots; print the Markdown."""
    from prlstm.analysis.report import write_analysis

    out = Path(args.out) if args.out else Path(args.runs_dir) / "analysis"
    try:
        text, written = write_analysis(args.runs_dir, out, plots=not args.no_plots,
                                       num_lengths=args.num_lengths, bin_width=args.bin_width,
                                       seed=args.seed)
    except ImportError as err:
        print(f"prlstm analyze: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"wrote {len(written)} file(s) to {out}", file=sys.stderr)
    return 0


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
