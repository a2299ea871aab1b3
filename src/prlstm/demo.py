"""`prlstm demo`: run every backend on one random batch, check they agree, time them.

The five backends of ``prlstm.ops.BACKENDS`` (reference, levelwise, chunked, streaming, triton);
``triton`` is skipped unless the batch is on CUDA and Triton is installed. ``nn.LSTM`` is timed
alongside as a baseline.
"""

from __future__ import annotations

import argparse
import time

import torch

from prlstm.layer import PRLSTM
from prlstm.ops import BACKENDS, triton_backend


def _time(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    layer = PRLSTM(args.hidden, args.hidden, refinements=args.refinements)
    x = torch.randn(args.batch, args.length, args.hidden)
    lstm = torch.nn.LSTM(args.hidden, args.hidden, batch_first=True)
    print(f"PR-LSTM H={args.hidden} R={args.refinements} B={args.batch} T={args.length} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    with torch.inference_mode():
        ref = None
        for backend in BACKENDS:
            if backend == "triton" and not (x.is_cuda and triton_backend.available()):
                print(f"  {backend:<10} skipped (needs CUDA and the triton package)")
                continue
            layer.backend = backend
            out = layer(x)[0]
            ref = out if ref is None else ref
            secs = _time(lambda: layer(x), args.repeats)
            err = (out - ref).abs().max().item()
            print(f"  {backend:<10} {secs * 1e3:9.1f} ms   max |diff| vs reference {err:.1e}")
        secs = _time(lambda: lstm(x), args.repeats)
        print(f"  {'nn.LSTM':<10} {secs * 1e3:9.1f} ms   (baseline, not the same model)")
    return 0


def _int_at_least(minimum: int):
    """An argparse type: an int >= ``minimum`` (argparse reports anything else, exit code 2)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"{value} < {minimum}")
        return value

    parse.__name__ = f"int >= {minimum}"  # argparse: "invalid int >= 1 value: '0'"
    return parse


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser("demo", help="compare the layer's backends on a random batch")
    p.add_argument("--hidden", type=_int_at_least(1), default=128)
    p.add_argument("--refinements", type=_int_at_least(0), default=1)
    p.add_argument("--batch", type=_int_at_least(1), default=16)
    p.add_argument("--length", type=_int_at_least(1), default=256)
    p.add_argument("--repeats", type=_int_at_least(1), default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
