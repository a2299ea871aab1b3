"""Argument definitions shared by the ``train``, ``sweep`` and ``run`` sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prlstm import tasks
from prlstm.experiments.orchestrate.presets import preset_names

# CLI flag -> RunConfig field, for the per-run settings every sub-command accepts.
RUN_FLAGS: dict[str, tuple[str, type, str]] = {
    "--steps": ("steps", int, "optimiser updates"),
    "--batch-size": ("batch_size", int, "training batch size (default 128)"),
    "--max-grad-norm": ("max_grad_norm", float, "global-norm clipping (default 1.0)"),
    "--train-length": ("train_length", int, "N: curriculum lengths 1..N (default 40)"),
    "--eval-length": ("eval_length", int, "M: evaluate lengths 1..M (default 500)"),
    "--eval-per-length": ("eval_per_length", int, "test sequences per length (default 512)"),
    "--eval-batch-size": ("eval_batch_size", int, "evaluation sub-batch size (default 64)"),
    "--eval-seed": ("eval_seed", int, "seed of the fixed test set (default 1)"),
    "--log-every": ("log_every", int, "train_log.csv row every k updates"),
    "--ckpt-every": ("ckpt_every", int, "checkpoint every k updates"),
    "--device": ("device", str, "auto (CUDA when present), cpu, cuda, cuda:N"),
    "--lr-decay-fraction": ("lr_decay_fraction", float,
                            "decay the lr linearly to 0 over this final fraction of the "
                            "updates (default 0: constant)"),
    "--val-every": ("val_every", int,
                    "score the out-of-range validation slice every k updates (0: off)"),
    "--val-per-length": ("val_per_length", int, "validation sequences per length (default 8)"),
    "--val-seed": ("val_seed", int, "seed of the validation slice (default 2)"),
}
# CLI flag -> model hyper-parameter (passed to the model as given; incompatible ones fail).
HPARAM_FLAGS: dict[str, tuple[str, type, str]] = {
    "--hidden-size": ("hidden_size", int, "hidden size H"),
    "--refinements": ("refinements", int, "R, refinement cells per merge (pr_* models only)"),
    "--schedule": ("schedule", str, "tree or sequential (pr_* models only)"),
    "--merge": ("merge", str, "gated, sum or concat (pr_lstm, pr_rnn only)"),
    "--positional-encoding": ("positional_encoding", str, "transformer positions"),
}
GROUPS = {"all": None, "regular": "regular", "dcf": "dcf", "cs": "cs"}


def print_written(command: str, write: Callable[[], tuple[str, list[Path]]], *,
                  out: Path | None = None, hint: str = "") -> int:
    """Run ``write()`` (a report writer returning its text and the files written), print the
    text and where the files went (``out``, else the first file's directory); a missing
    optional dependency becomes one error line (with ``hint``) and status 2."""
    try:
        text, written = write()
    except ImportError as err:
        print(f"prlstm {command}: error: {err}{hint}", file=sys.stderr)
        return 2
    print(text)
    where = out if out is not None else (written[0].parent if written else Path("."))
    print(f"wrote {len(written)} file(s) to {where}", file=sys.stderr)
    return 0


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Preset, per-run settings, model hyper-parameters and task options."""
    parser.add_argument("--preset", choices=preset_names(),
                        help=f"budget preset ({', '.join(preset_names())}); flags override "
                        "its values")
    for flag, (_, kind, text) in {**RUN_FLAGS, **HPARAM_FLAGS}.items():
        parser.add_argument(flag, type=kind, help=text)
    parser.add_argument("--val-lengths", type=int, nargs="+", metavar="L",
                        help="validation lengths (default: 6 spread over N+1..M)")
    parser.add_argument("--hparam", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="any model hyper-parameter (JSON value)")
    parser.add_argument("--task-option", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="a task option, e.g. modulus=7")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_fields(args: argparse.Namespace) -> dict[str, Any]:
    """RunConfig field overrides given on the command line (unset flags left out)."""
    fields = {}
    for flag, (name, _, _) in RUN_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            fields[name] = value
    if getattr(args, "val_lengths", None):
        fields["val_lengths"] = list(args.val_lengths)
    return fields


def hparams(args: argparse.Namespace) -> dict[str, Any]:
    """Model hyper-parameters given on the command line."""
    values = dict(args.hparam)
    for flag, (name, _, _) in HPARAM_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            values[name] = value
    return values


def expand_tasks(names: list[str]) -> list[str]:
    """Task names, where ``all``/``regular``/``dcf``/``cs`` expand to their tasks.

    Raises:
        ValueError: nothing is left after splitting at commas (e.g. ``--tasks ,``).
    """
    expanded: list[str] = []
    for item in split_list(names, flag="--tasks"):
        if item in GROUPS:
            level = GROUPS[item]
            expanded += [t for t in tasks.names() if level is None or tasks.get(t).level == level]
        else:
            expanded.append(item)
    return list(dict.fromkeys(expanded))


def split_list(values: list[str], kind: type = str, flag: str = "list") -> list[Any]:
    """Flatten ``["a,b", "c"]`` into ``[kind(a), kind(b), kind(c)]``.

    Raises:
        ValueError: a part does not convert with ``kind``, or no part is left (``","``);
            the message starts with ``flag`` (e.g. ``"--seeds"``).
    """
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"{flag}: expected at least one value, got {' '.join(values)!r}")
    converted = []
    for part in parts:
        try:
            converted.append(kind(part))
        except ValueError:
            raise ValueError(f"{flag}: expected comma-separated {kind.__name__} values, got "
                             f"{part!r} in {' '.join(values)!r}") from None
    return converted


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """Where a sweep runs: the local process pool (default) or Ray tasks."""
    group = parser.add_argument_group("engine (where runs execute)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local worker processes (default) or one Ray task per run")
    group.add_argument("--address", help="Ray cluster HOST:PORT (default: start a local Ray)")
    group.add_argument("--cpus-per-run", type=float,
                       help="Ray CPUs per run, also its torch threads (default 1)")
    group.add_argument("--gpus-per-run", type=float,
                       help="Ray GPUs per run; fractions pack runs, e.g. 0.125 (default 0)")
    group.add_argument("--storage", help="directory at the same path on every Ray node: runs "
                       "train there and resume after a worker dies (default: node scratch)")
    group.add_argument("--max-retries", type=int,
                       help="Ray retries of a run whose worker died (default 3)")
