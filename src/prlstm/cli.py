"""`prlstm` command-line entry point: a thin dispatcher over per-area sub-command modules."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prlstm",
        description="Parallel Recursive LSTM: layer demo, formal-language tasks, benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from prlstm import demo
    from prlstm.analysis import cli as analysis_cli
    from prlstm.experiments import cli as experiments_cli
    from prlstm.lm import cli as lm_cli
    from prlstm.tasks import cli as tasks_cli

    demo.register(sub)
    tasks_cli.register(sub)
    experiments_cli.register(sub)
    analysis_cli.register(sub)
    lm_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError) as err:
        print(f"prlstm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
