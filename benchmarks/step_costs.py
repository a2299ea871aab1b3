"""Measured cost of one training step and of a full evaluation, per task × model (not a test).

Used to choose the step budgets of the ``cpu-full`` and ``cpu-ablations`` presets (issue 10):
one torch thread, H = 128 (the cpu presets' width), batch 128 at training length 20 (the mean
of the curriculum U{1..40}); the evaluation cost at lengths 1..500 with 16 sequences per length
is extrapolated from one timed batch at lengths 50, 250 and 500 (a quadratic through them,
summed over every length). ``--estimate PRESET`` adds up the preset's whole grid.

    python benchmarks/step_costs.py [--tasks a,b] [--models a,b] [--out FILE.json]
    python benchmarks/step_costs.py --estimate cpu-full   # from the saved JSON

(Variants at another width, e.g. cpu-ablations' H = 69 PR-LSTM, are estimated at the measured
H = 128 cost, an over-estimate.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from prlstm import tasks
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from prlstm import tasks

from prlstm.experiments.factory import build_model, build_task
from prlstm.experiments.io import write_json
from prlstm.experiments.metrics import batch_metrics
from prlstm.experiments.presets import get_preset, grid, make_config

MODELS = ("pr_lstm", "pr_rnn", "rnn", "lstm", "transformer", "stack_rnn", "tape_rnn")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "step_costs.json"


def _timed(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(task_name: str, model_name: str, repeats: int = 3) -> dict[str, float]:
    """``step_ms`` (training step at length 20) and ``eval_s`` (lengths 1..500 × 16)."""
    config = make_config(task_name, model_name, "cpu")
    task = build_task(config)
    model = build_model(config, task, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = task.sample_batch(128, 20, seed=0)

    def step() -> None:
        logits = model(batch.inputs, task.output_length(batch.inputs.shape[1]))
        loss, _ = batch_metrics(logits, batch.targets, batch.mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step_s = _timed(step, repeats)
    model.eval()
    points = []
    for length in (50, 250, 500):
        sample = task.sample_batch(16, length, seed=1)

        @torch.inference_mode()
        def forward(sample: Any = sample) -> None:
            model(sample.inputs, task.output_length(sample.inputs.shape[1]))

        points.append((length, _timed(forward, 1)))
    coeffs = np.polyfit([p[0] for p in points], [p[1] for p in points], 2)
    eval_s = float(np.clip(np.polyval(coeffs, np.arange(1, 501)), 0, None).sum())
    return {"step_ms": 1000 * step_s, "eval_s": eval_s}


def estimate(preset_name: str, costs: dict[str, dict[str, dict[str, float]]]) -> float:
    """Core-seconds of the preset's whole grid (steps × step cost + evaluation, every run)."""
    preset = get_preset(preset_name)
    total = 0.0
    for point in grid(preset):
        config = make_config(point.task, point.model, preset_name, hparams=point.hparams)
        cost = costs[point.task][point.model]
        total += config.steps * cost["step_ms"] / 1000 + cost["eval_s"]
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(tasks.names()))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--estimate", metavar="PRESET",
                        help="print the grid cost of PRESET from the saved JSON and exit")
    args = parser.parse_args(argv)
    if args.estimate:
        costs = json.loads(args.out.read_text())["costs"]
        seconds = estimate(args.estimate, costs)
        print(f"{args.estimate}: {seconds:.0f} core-seconds = {seconds / 7200:.2f} h on 2 cores")
        return 0
    torch.set_num_threads(1)
    costs: dict[str, dict[str, dict[str, float]]] = {}
    for task_name in args.tasks.split(","):
        for model in args.models.split(","):
            costs.setdefault(task_name, {})[model] = c = measure(task_name, model, args.repeats)
            print(f"{task_name:28s} {model:12s} step {c['step_ms']:7.1f} ms  "
                  f"eval {c['eval_s']:6.1f} s", flush=True)
    write_json(args.out, {"benchmark": "step_costs", "threads": 1, "hidden_size": 128,
                          "batch_size": 128, "train_length": 20, "eval": "1..500 x 16",
                          "torch_version": torch.__version__,
                          "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                          "costs": costs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
