"""``prlstm tasks``: list the benchmark tasks, or print decoded examples of one task.

Usage::

    prlstm tasks                                   # table: level, V, C, lengths, vocabulary
    prlstm tasks show NAME --length L [--seed S] [--count K] [--option KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
from typing import Any

from prlstm.tasks.base import Task
from prlstm.tasks.registry import get, names

__all__ = ["register", "format_table", "format_examples"]


def register(subparsers: Any) -> None:
    """Add the ``tasks`` sub-command to an argparse sub-parsers object.

    Every parser it adds sets ``func``, a callable taking the parsed namespace and returning an
    exit code.
    """
    parser = subparsers.add_parser(
        "tasks",
        help="list the 15 formal-language tasks or show decoded examples",
        description="List the formal-language tasks (no action), or show examples of one.",
    )
    parser.set_defaults(func=_run_list)
    actions = parser.add_subparsers(dest="tasks_action", metavar="ACTION")
    list_parser = actions.add_parser("list", help="list the tasks (the default)")
    list_parser.set_defaults(func=_run_list)
    show = actions.add_parser("show", help="print a few decoded examples with their targets")
    show.add_argument("name", help="task name, e.g. parity_check")
    show.add_argument("--length", "-L", type=int, required=True,
                      help="requested length L (the input length T differs only for "
                           "modular_arithmetic)")
    show.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    show.add_argument("--count", "-n", type=int, default=3, help="number of examples (default 3)")
    show.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                      help="task option, e.g. mult=false or modulus=7 (repeatable)")
    show.set_defaults(func=_run_show)


def format_table() -> str:
    """The task listing printed by ``prlstm tasks``."""
    header = ("task", "level", "V", "C", "T", "T_out", "mask", "vocabulary")
    rows = [header]
    for name in names():
        task = get(name)
        t_text = "L (L-1 if L even)" if name == "modular_arithmetic" else "L"
        masked = "to $" if "$" in task.output_symbols else "all"
        rows.append((name, task.level, str(task.input_size), str(task.output_size), t_text,
                     task.output_length_text, masked, " ".join(task.symbols)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def format_examples(task: Task, length: int, seed: int, count: int) -> str:
    """Decoded examples of ``task`` at requested length ``length``, as ``prlstm tasks show``."""
    batch = task.sample_batch(count, length, seed=seed)
    t = batch.inputs.shape[1]
    lines = [
        f"{task.name} ({task.level}): {task.description}",
        f"options: {task.options or 'none'}; L = {length}, T = {t}, "
        f"T_out = {task.output_length(t)}, seed = {seed}",
    ]
    for i in range(count):
        shown = batch.targets[i][batch.mask[i]]  # masked-in target positions
        hidden = int((~batch.mask[i]).sum())
        suffix = f"  (+{hidden} padding)" if hidden else ""
        lines.append(f"[{i}] input  {task.decode(batch.inputs[i])}")
        lines.append(f"    target {task.decode_target(shown)}{suffix}")
    return "\n".join(lines)


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--option must look like KEY=VALUE, got {text!r}")
    value: Any = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        try:
            value = int(raw)
        except ValueError:
            pass
    return key, value


def _run_list(args: argparse.Namespace) -> int:
    print(format_table())
    return 0


def _run_show(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    options = dict(_parse_option(text) for text in args.option)
    task = get(args.name, **options)
    print(format_examples(task, args.length, args.seed, args.count))
    return 0
