"""``prlstm models``: the model registry, parameter counts and capacity matching.

    prlstm models                                   # every model, its options and source
    prlstm models --params --hidden-size 64 128 256 # parameter counts per width
    prlstm models --match pr_lstm --hidden-size 128 # each model's width at pr_lstm's count
"""

from __future__ import annotations

import argparse
from typing import Any

from prlstm import models

_WIDTH_KEY = {"transformer": "embedding_dim"}


def _sizes(args: argparse.Namespace) -> tuple[int, int]:
    """(V, C) from ``--task`` or ``--input-size`` / ``--output-size``."""
    if args.task:
        from prlstm import tasks

        task = tasks.get(args.task)
        return task.input_size, task.output_size
    return args.input_size, args.output_size


def _names(args: argparse.Namespace) -> list[str]:
    if not args.models:
        return models.names()
    return [n for item in args.models for n in item.split(",") if n]


def _width_key(name: str) -> str:
    return _WIDTH_KEY.get(name, "hidden_size")


def _options(name: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in models.default_hparams(name).items()) or "-"


def _list(args: argparse.Namespace) -> list[str]:
    lines = ["| model | options (defaults) | source |", "|---|---|---|"]
    for name in _names(args):
        try:
            spec = None if name in models.INFO else models.plugins.lookup(name)
            spec_source = models.INFO[name] if spec is None else spec.source
            lines.append(f"| {name} | {_options(name)} | {spec_source} |")
        except (ValueError, TypeError, ImportError) as err:
            lines.append(f"| {name} | (cannot load: {err}) | |")
    return lines


def _count(name: str, V: int, C: int, width: int | None) -> int | str:
    hp: dict[str, Any] = {} if width is None else {_width_key(name): width}
    try:
        return models.count_parameters(name, V, C, **hp)
    except (ValueError, TypeError, ImportError) as err:
        return f"n/a ({str(err).splitlines()[0][:60]})"


def _params(args: argparse.Namespace) -> list[str]:
    V, C = _sizes(args)
    widths = args.hidden_size or [None]
    head = " | ".join("default" if w is None else f"H={w}" for w in widths)
    lines = [f"Parameters for V = {V} input tokens, C = {C} classes.", "",
             f"| model | {head} |", "|---|" + "---|" * len(widths)]
    for name in _names(args):
        cells = " | ".join(f"{c:,}" if isinstance(c, int) else c
                           for c in (_count(name, V, C, w) for w in widths))
        lines.append(f"| {name} | {cells} |")
    return lines


def _match(args: argparse.Namespace) -> list[str]:
    V, C = _sizes(args)
    width = (args.hidden_size or [None])[0]
    target = _count(args.match, V, C, width)
    if not isinstance(target, int):
        raise ValueError(f"--match {args.match!r}: {target}")
    lines = [f"Widths matching {args.match} ({'default' if width is None else f'H={width}'}): "
             f"{target:,} parameters, V = {V}, C = {C}.", "",
             "| model | width option | width | parameters | vs target |", "|---|---|---|---|---|"]
    for name in _names(args):
        key = _width_key(name)
        try:
            w = models.width_for_params(name, target, V, C, key=key)
        except (ValueError, TypeError, ImportError) as err:
            lines.append(f"| {name} | {key} | n/a ({str(err)[:60]}) | | |")
            continue
        n = models.count_parameters(name, V, C, **{key: w})
        lines.append(f"| {name} | {key} | {w} | {n:,} | {100 * (n - target) / target:+.1f} % |")
    return lines


def cmd_models(args: argparse.Namespace) -> int:
    if args.match:
        lines = _match(args)
    elif args.params:
        lines = _params(args)
    else:
        lines = _list(args)
    print("\n".join(lines))
    return 0


def register(subparsers: Any) -> None:
    """Add ``prlstm models`` to the top-level parser."""
    p = subparsers.add_parser("models", help="list models, count parameters, match capacity",
                              description="The benchmark's models (built-in and plugins), "
                              "their options and sources; parameter counts; widths that "
                              "match a model's parameter count.")
    p.add_argument("--models", nargs="+", help="only these models (default: all)")
    p.add_argument("--params", action="store_true", help="parameter counts per width")
    p.add_argument("--match", metavar="MODEL",
                   help="for each model, the width whose parameter count is closest to MODEL's")
    p.add_argument("--hidden-size", type=int, nargs="+", metavar="H",
                   help="widths (the transformer's embedding_dim); default: each model's own")
    p.add_argument("--task", help="take V and C from this task (default: V = 2, C = 2)")
    p.add_argument("--input-size", type=int, default=2, help="V (default 2)")
    p.add_argument("--output-size", type=int, default=2, help="C (default 2)")
    p.set_defaults(func=cmd_models)
