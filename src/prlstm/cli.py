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
    from prlstm.models import cli as models_cli
    from prlstm.tasks import cli as tasks_cli

    demo.register(sub)
    tasks_cli.register(sub)
    experiments_cli.register(sub)
    models_cli.register(sub)
    analysis_cli.register(sub)
    lm_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``prlstm ARGV`` under the pinned CPU settings (``docs/reproducibility.md``).

    The settings go into the environment before torch computes anything (``import prlstm``
    loads torch but runs no kernel) and so reach every worker process; a Python caller gets its
    environment back afterwards.
    """
    from prlstm.experiments.run import cpu_env

    with cpu_env.pinned():
        for problem in cpu_env.check():
            print(f"prlstm: warning: {problem}", file=sys.stderr)
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return int(args.func(args) or 0)
        except (ValueError, TypeError, ImportError, OSError) as err:
            print(f"prlstm {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2
        except (MemoryError, RuntimeError) as err:
            if isinstance(err, RuntimeError) and "allocate" not in str(err):
                raise  # a bug, not the user's input: keep the traceback
            print(f"prlstm {args.command}: error: out of memory ({_one_line(err) or 'no detail'}"
                  f"); use smaller sizes (e.g. --batch-size, --hidden-size)", file=sys.stderr)
            return 2


def _one_line(err: BaseException) -> str:
    """The error's message on one line (an OSError keeps its file name and reason)."""
    return " ".join(str(err).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
