"""What the CPU pin costs: training CPU seconds with and without it, per model (not a test).

The pin (``prlstm.experiments.run.cpu_env``, ``docs/reproducibility.md``) buys the same
numbers on every x86-64 CPU with AVX2 by giving up the fastest kernels, mostly oneMKL's.
This script trains the same short run twice per setting and model, alternating pinned and
unpinned (``PRLSTM_CPU_PIN=0``) so that a slow patch of the machine hits both, each in its own
``prlstm train`` process with one torch thread, and records the training process's CPU
seconds (``train_cpu_seconds`` of the checkpoint: the training steps only, which other jobs
on the machine barely inflate). The README's "a PR-LSTM training step about N× as costly" is
the pr_lstm ratio of the medians in the JSON written here::

    python benchmarks/pin_cost.py [--models pr_lstm,lstm] [--repeats 2] [--steps 100]
                                  [--out benchmarks/results/pin_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from prlstm.experiments.run import cpu_env
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from prlstm.experiments.run import cpu_env

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "pin_cost.json"
MODELS = ("pr_lstm", "lstm", "rnn", "transformer")
SETTINGS = {"pinned": {}, "unpinned": {"PRLSTM_CPU_PIN": "0"}}


def train_cpu_seconds(model: str, steps: int, extra_env: dict[str, str], out: Path) -> float:
    """Train ``model`` on parity_check (``cpu`` preset, ``steps`` updates) in a fresh process
    and return its training CPU seconds."""
    env = {k: v for k, v in os.environ.items() if k != "PRLSTM_CPU_PIN"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra_env)
    want = "on" if not extra_env else "off"
    if not cpu_env.status(env).startswith(want):  # what the child process will decide
        raise RuntimeError(f"expected the pin {want}, this environment gives "
                           f"{cpu_env.status(env)!r}")
    run_dir = out / f"{model}-{len(list(out.iterdir()))}"
    command = [sys.executable, "-c", "import sys; from prlstm.cli import main; sys.exit(main())",
               "train", "--preset", "cpu", "--task", "parity_check", "--model", model,
               "--steps", str(steps), "--val-every", "0", "--run-dir", str(run_dir), "--quiet"]
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    extra = json.loads((run_dir / "checkpoint.json").read_text(encoding="utf-8"))["extra"]
    if extra.get("threads") != 1:
        raise RuntimeError(f"{model}: trained with {extra.get('threads')} threads, not 1")
    return float(extra["train_cpu_seconds"])


def measure(models: list[str], steps: int, repeats: int) -> dict[str, Any]:
    """CPU seconds per model and setting, and the pinned / unpinned ratio of the medians."""
    per_model: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for model in models:
            seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
            for _ in range(repeats):
                for name, extra in SETTINGS.items():
                    seconds[name].append(train_cpu_seconds(model, steps, extra, out))
                    print(f"{model:12s} {name:9s} {seconds[name][-1]:6.2f} s", file=sys.stderr)
            medians = {name: statistics.median(v) for name, v in seconds.items()}
            per_model[model] = {"cpu_seconds": seconds, "median": medians,
                                "ratio": medians["pinned"] / medians["unpinned"]}
    return per_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    import torch

    data = {
        "what": "training CPU seconds of prlstm train --preset cpu --task parity_check "
                f"--steps {args.steps}, one torch thread, pinned vs PRLSTM_CPU_PIN=0",
        "steps": args.steps, "repeats": args.repeats, "torch": torch.__version__,
        "machine": platform.machine(), "processor": platform.processor() or None,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "models": measure([m for m in args.models.split(",") if m], args.steps, args.repeats),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    for model, row in data["models"].items():
        print(f"{model}: pinned {row['median']['pinned']:.2f} s, unpinned "
              f"{row['median']['unpinned']:.2f} s, ratio {row['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
