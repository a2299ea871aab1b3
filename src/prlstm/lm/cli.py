"""``prlstm lm train | generate | report``: the character-level LM demo."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prlstm.lm.models import MODELS

MAX_THREADS = 4_096


def set_threads(threads: int) -> None:
    """``torch.set_num_threads`` after checking ``--threads`` (torch raises a RuntimeError
    with a traceback on 0 or a negative count)."""
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) \
            or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"--threads: expected an integer in [1, {MAX_THREADS}], got {threads!r}")
    torch.set_num_threads(threads)


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) one LM run and print its summary line."""
    from prlstm.lm.train import LMConfig, train_lm

    set_threads(args.threads)
    cfg = LMConfig(**{name: getattr(args, name) for name in _RUN_FIELDS})
    s = train_lm(cfg, args.out, progress=not args.quiet, until=args.until)
    from prlstm.experiments.run.distributed import is_writer

    if not is_writer():  # under torchrun, rank 0 reports
        return 0
    print(f"{s['model']}: {s['params']:,} params, step {s['steps']}/{cfg.steps}, "
          f"val {s['val_bpc']:.3f} bits/char, {s['cpu_s']:.0f} CPU s -> {args.out}")
    return 0


#: The ``train`` options that are fields of the run's :class:`~prlstm.lm.train.LMConfig`.
_RUN_FIELDS = ("model", "files", "val_fraction", "seq_len", "batch_size", "steps", "lr",
               "embedding_size", "hidden_size", "num_layers", "val_every", "ckpt_every", "seed")


def cmd_generate(args: argparse.Namespace) -> int:
    """Sample text from a trained run."""
    import torch

    from prlstm.lm.train import load_run

    set_threads(args.threads)
    if not 1 <= args.length <= 10**7:
        raise ValueError(f"--length: expected an integer in [1, 10000000], got {args.length}")
    if not 0 <= args.temperature < float("inf"):
        raise ValueError(f"--temperature: expected a finite number >= 0, got {args.temperature}")
    _, model, step = load_run(args.run)
    model.eval()
    prompt = args.prompt.encode("utf-8")
    if not prompt:
        raise ValueError("--prompt must not be empty")
    gen = torch.Generator().manual_seed(args.seed)
    ids = torch.tensor([list(prompt)])
    out = model.generate(ids, args.length, temperature=args.temperature, gen=gen)
    sys.stdout.write((prompt + bytes(out[0].tolist())).decode("utf-8", errors="replace"))
    sys.stdout.write("\n")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the bits-per-character table and curves of finished runs."""
    from prlstm.lm.report import write_lm_report

    out = write_lm_report(args.runs, args.out, at_step=args.at_step)
    print((out / "table.md").read_text(encoding="utf-8"), end="")
    return 0


def register(subparsers: Any) -> None:
    """Add ``lm`` with its sub-commands to the ``prlstm`` CLI."""
    lm = subparsers.add_parser("lm", help="character-level language-model demo")
    sub = lm.add_subparsers(dest="lm_command", metavar="LM_COMMAND")
    sub.required = True
    t = sub.add_parser("train", help="train (or resume) one model; writes a run directory")
    t.add_argument("--model", choices=MODELS, default="pr_lstm")
    t.add_argument("--out", required=True, help="run directory (resumed if it has a checkpoint)")
    t.add_argument("--files", nargs="+", default=["stdlib"],
                   help="text files, globs or directories (default: the Python stdlib's *.py)")
    t.add_argument("--val-fraction", type=float, default=0.1, help="files held out")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--until", type=int, default=None, help="stop (checkpointed) at this step")
    # The shared names (prlstm.hf, the benchmark); the older spellings still work.
    t.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=32,
                   help="global batch (sequences per update)")
    t.add_argument("--seq-len", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--embedding-size", "--emb", dest="embedding_size", type=int, default=0,
                   help="0: the model's default size")
    t.add_argument("--hidden-size", "--hidden", dest="hidden_size", type=int, default=0,
                   help="0: the model's default size")
    t.add_argument("--num-layers", "--layers", dest="num_layers", type=int, default=0,
                   help="0: the model's default")
    t.add_argument("--val-every", "--eval-every", dest="val_every", type=int, default=100,
                   help="validation bits/char every this many steps")
    t.add_argument("--ckpt-every", type=int, default=250)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch threads")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)
    g = sub.add_parser("generate", help="sample text from a trained run")
    g.add_argument("--run", required=True)
    g.add_argument("--prompt", default="def ")
    g.add_argument("--length", type=int, default=300, help="bytes to generate")
    g.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=1)
    g.set_defaults(func=cmd_generate)
    r = sub.add_parser("report", help="bits-per-character table and learning curves")
    r.add_argument("runs", nargs="+", help="run directories")
    r.add_argument("--out", default="results/lm")
    r.add_argument("--at-step", type=int, default=None,
                   help="compare at this logged step (default: the last one all runs have)")
    r.set_defaults(func=cmd_report)
