"""Time ``sample_batch(512, 500)`` for every task (a benchmark, not a test).

Targets: < 50 ms per batch for the i.i.d.-symbol tasks and < 1 s for the recursive ones
(modular_arithmetic_brackets, solve_equation). Prints a table and writes JSON (atomically).

    python benchmarks/tasks_speed.py [--out benchmarks/results/tasks_speed.json]
        [--batch-size 512] [--length 500] [--repeats 7] [--threads N] [--tasks a,b,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from prlstm import tasks
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from prlstm import tasks

import numpy as np
import torch

RECURSIVE = {"modular_arithmetic_brackets", "solve_equation"}
FAST_TARGET_S = 0.050
RECURSIVE_TARGET_S = 1.0


def time_task(name: str, batch_size: int, length: int, repeats: int) -> dict[str, Any]:
    """Median and min wall time of ``sample_batch`` over ``repeats`` seeds, after one warm-up."""
    task = tasks.get(name)
    task.sample_batch(batch_size, length, seed=0)  # warm-up
    times = []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        task.sample_batch(batch_size, length, seed=seed)
        times.append(time.perf_counter() - start)
    target = RECURSIVE_TARGET_S if name in RECURSIVE else FAST_TARGET_S
    median = statistics.median(times)
    return {
        "task": name,
        "level": task.level,
        "median_ms": round(median * 1e3, 3),
        "min_ms": round(min(times) * 1e3, 3),
        "max_ms": round(max(times) * 1e3, 3),
        "target_ms": target * 1e3,
        "pass": median < target,
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` via a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 (failures against targets are reported, not fatal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tasks_speed.json"))
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads before timing (default: leave as is)")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of task names")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    names = tasks.names() if args.tasks is None else args.tasks.split(",")
    for name in names:
        tasks.get(name)  # fail early on unknown names

    results = []
    print(f"sample_batch({args.batch_size}, {args.length}), median of {args.repeats} runs, "
          f"torch threads = {torch.get_num_threads()}")
    print(f"{'task':30s} {'level':8s} {'median ms':>10s} {'min ms':>8s} {'target':>8s}  ok")
    for name in names:
        row = time_task(name, args.batch_size, args.length, args.repeats)
        results.append(row)
        print(f"{name:30s} {row['level']:8s} {row['median_ms']:10.2f} {row['min_ms']:8.2f} "
              f"{row['target_ms']:6.0f}ms  {'PASS' if row['pass'] else 'FAIL'}")
    payload = {
        "benchmark": "tasks_speed",
        "batch_size": args.batch_size,
        "length": args.length,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "all_pass": all(r["pass"] for r in results),
        "results": results,
    }
    write_json_atomic(args.out, payload)
    print(f"all pass: {payload['all_pass']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
