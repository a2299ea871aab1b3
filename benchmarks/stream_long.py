"""Stream 10^6 tokens through ``PRLSTM.step``: time per token and the stream state's size.

Not a test. The stream keeps one binary-counter stack per layer; after ``t`` tokens it must
hold at most ``popcount(t)`` entries per layer, so memory stays O(log t) however long the
stream runs: checked after every token (``tokens_with_entries_gt_popcount``), the entries
themselves recorded at every power of two and at the end. Time per token is reported per
window of tokens, so a slowdown as ``t`` grows would show.

    python benchmarks/stream_long.py                       # 10^6 tokens, H=32, B=1, 1 layer
    python benchmarks/stream_long.py --tokens 10000 --out /tmp/s.json

Writes JSON atomically (default ``benchmarks/results/stream_long.json``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

try:
    import prlstm
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import prlstm

from prlstm import PRLSTM
from prlstm.experiments.run.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"


def state_entries(state: Any) -> list[int]:
    """Stack entries per layer of a :class:`prlstm.layer.StreamState`."""
    return [len(stack) for stack in state.stacks]


def state_bytes(state: Any) -> int:
    """Bytes of the tensors a stream state holds (roots and folds of every entry)."""
    seen: dict[int, int] = {}
    for stack in state.stacks:
        for entry in stack:
            for t in (*entry.root, *entry.fold):
                seen[id(t)] = t.numel() * t.element_size()  # a root may be its own fold
    return sum(seen.values())


def stream(tokens: int, hidden: int, layers: int, batch: int, window: int,
           seed: int = 0) -> dict[str, Any]:
    """Stream ``tokens`` random inputs; returns timings per window and state sizes."""
    torch.manual_seed(seed)
    layer = PRLSTM(3, hidden, num_layers=layers).eval()
    g = torch.Generator().manual_seed(seed + 1)
    windows, checks = [], []
    violations, max_entries = 0, 0
    with torch.inference_mode():
        state = layer.init_stream(batch)
        start = time.perf_counter()
        t0 = start
        while state.t < tokens:
            n = min(window, tokens - state.t)
            xs = torch.randn(n, batch, 3, generator=g)  # inputs drawn per window
            for i in range(n):
                y, state = layer.step(xs[i], state)
                t = state.t
                worst = max(len(stack) for stack in state.stacks)  # checked at every token
                if worst > t.bit_count():
                    violations += 1
                max_entries = max(max_entries, worst)
                if t & (t - 1) == 0 or t == tokens:  # recorded at powers of two and the end
                    entries = state_entries(state)
                    checks.append({"t": t, "entries": entries, "popcount": t.bit_count(),
                                   "ok": all(e <= t.bit_count() for e in entries)})
            now = time.perf_counter()
            windows.append({"t_end": state.t, "us_per_token": (now - t0) / n * 1e6})
            t0 = now
            if not torch.isfinite(y).all():
                raise FloatingPointError(f"non-finite output at t = {state.t}")
        wall = time.perf_counter() - start
    entries = state_entries(state)
    return {
        "tokens": tokens, "wall_s": wall, "us_per_token": wall / tokens * 1e6,
        "us_per_token_first_window": windows[0]["us_per_token"],
        "us_per_token_last_window": windows[-1]["us_per_token"],
        "final_entries_per_layer": entries, "final_popcount": tokens.bit_count(),
        "final_state_bytes": state_bytes(state),
        "entries_le_popcount": violations == 0 and all(c["ok"] for c in checks),
        "tokens_with_entries_gt_popcount": violations,
        "max_entries_seen": max_entries,
        "checks": checks, "windows": windows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--window", type=int, default=50_000, help="tokens per timing window")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS / "stream_long.json")
    args = ap.parse_args(argv)
    if args.tokens < 1 or args.window < 1:
        ap.error("--tokens and --window must be >= 1")
    torch.set_num_threads(args.threads)
    res = stream(args.tokens, args.hidden, args.layers, args.batch, args.window)
    payload = {"config": {"tokens": args.tokens, "hidden": args.hidden, "layers": args.layers,
                          "batch": args.batch, "threads": args.threads, "cell": "lstm",
                          "refinements": 1, "device": "cpu",
                          "cpu": platform.processor() or platform.machine(),
                          "torch": torch.__version__, "prlstm": prlstm.__version__,
                          "load_average": os.getloadavg() if hasattr(os, "getloadavg")
                          else None, "argv": sys.argv[1:]},
               **res}
    write_json(args.out, payload)
    print(f"{args.tokens} tokens in {res['wall_s']:.1f} s: {res['us_per_token']:.1f} us/token "
          f"(first window {res['us_per_token_first_window']:.1f}, last "
          f"{res['us_per_token_last_window']:.1f}); state at the end: "
          f"{res['final_entries_per_layer']} entries per layer (popcount "
          f"{res['final_popcount']}), {res['final_state_bytes']} bytes; entries <= popcount(t) "
          f"after every token: {res['entries_le_popcount']} (max {res['max_entries_seen']})")
    print(f"wrote {args.out}")
    return 0 if res["entries_le_popcount"] else 1


if __name__ == "__main__":
    sys.exit(main())
