"""MkDocs hook: the command-line reference page, generated from the real parser.

``docs/cli.md`` holds a marker line; at build time it is replaced by the ``--help`` text of
``prlstm`` and of every subcommand (and sub-subcommand), taken from
``prlstm.cli.build_parser()``, so the page can never disagree with the installed CLI.
``tests/docs/test_site.py`` checks that every subcommand appears.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- prlstm-cli-help -->"
WIDTH = "100"  # argparse wraps help text to $COLUMNS; fixed, so the page does not depend on it


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """``(command line, parser)`` for ``prlstm`` and every subcommand, depth first."""
    from prlstm.cli import build_parser

    out, todo = [], [("prlstm", build_parser())]
    while todo:
        name, parser = todo.pop(0)
        out.append((name, parser))
        todo = [(f"{name} {sub}", p) for sub, p in _subparsers(parser).items()] + todo
    return out


def cli_markdown() -> str:
    """One section per command: its name as a heading and its help in a text block."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parts = []
        for name, parser in commands():
            level = "##" if name.count(" ") <= 1 else "###"
            parts += [f"{level} `{name}`", "", "```text", parser.format_help().rstrip(), "```",
                      ""]
        return "\n".join(parts)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_markdown())
    return markdown
