"""Measured cost of one training step and of a full evaluation, per task × model (not a test).

Used to choose the step budgets of the ``cpu-full``, ``cpu-ablations`` and ``cpu-fair`` presets:
one torch thread, H = 128 (the cpu presets' width), batch 128 at training length 20 (the mean
of the curriculum U{1..40}); the evaluation cost at lengths 1..500 with 16 sequences per length
is extrapolated from one timed batch at lengths 50, 250 and 500 (a quadratic through them,
summed over every length). ``--estimate PRESET`` adds up the preset's whole grid.

    python benchmarks/step_costs.py [--tasks a,b] [--models a,b] [--out FILE.json]
    python benchmarks/step_costs.py --tasks parity_check --length 40 --no-eval  # vs pr_lstm
    python benchmarks/step_costs.py --estimate cpu-fair --out benchmarks/results/cpu_fair_costs.json
    python benchmarks/step_costs.py --size cpu-fair --out benchmarks/results/cpu_fair_costs.json

(Variants at another width, e.g. cpu-ablations' H = 69 PR-LSTM, are estimated at the measured
H = 128 cost, an over-estimate.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from prlstm import tasks
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from prlstm import tasks

from prlstm.experiments.orchestrate.presets import get_preset, grid, make_config
from prlstm.experiments.run import cpu_env
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.io import write_json
from prlstm.experiments.run.metrics import batch_metrics

MODELS = ("pr_lstm", "pr_rnn", "rnn", "lstm", "transformer", "stack_rnn", "tape_rnn", "mingru",
          "minlstm", "linear_rnn", "deltanet", "mamba", "mlstm", "slstm")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "step_costs.json"


def _timed(fn: Any, repeats: int) -> float:
    return _timed_both(fn, repeats)[0]


def _timed_both(fn: Any, repeats: int) -> tuple[float, float]:
    """Mean wall seconds and mean CPU seconds of this process per call, after a warm-up. With
    one torch thread the CPU time barely moves when other jobs share the machine."""
    fn()  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return ((time.perf_counter() - start) / repeats, (time.process_time() - cpu) / repeats)


def measure(task_name: str, model_name: str, repeats: int = 3, length: int = 20,
            eval_cost: bool = True, hparams: dict[str, Any] | None = None) -> dict[str, float]:
    """``step_ms`` (training step at ``length``) and ``eval_s`` (lengths 1..500 × 16)."""
    config = make_config(task_name, model_name, "cpu", hparams=hparams)
    task = build_task(config)
    model = build_model(config, task, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = task.sample_batch(128, length, seed=0)

    def step() -> None:
        logits = model(batch.inputs, task.output_length(batch.inputs.shape[1]))
        loss, _ = batch_metrics(logits, batch.targets, batch.mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step_s, step_cpu_s = _timed_both(step, repeats)
    if not eval_cost:
        return {"step_ms": 1000 * step_s, "step_cpu_ms": 1000 * step_cpu_s}
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


def variant_key(model: str, hparams: dict[str, Any]) -> str:
    """``model`` or ``model k=v ...``: the key of one preset variant in the costs file."""
    return " ".join([model, *(f"{k}={v}" for k, v in sorted(hparams.items()))])


def size_preset(preset_name: str, repeats: int,
                measured: dict[str, dict[str, dict[str, float]]] | None = None) -> dict[str, Any]:
    """Measure every (task, variant) of a preset's grid at its own hyper-parameters (or reuse
    ``measured``, the ``costs`` of an earlier ``--size`` file) and add up the grid at the
    preset's current steps, tuning runs included (``tune_lrs`` × ``tune_seeds`` per cell,
    trained but not scored on the test set)."""
    preset = get_preset(preset_name)
    costs: dict[str, dict[str, dict[str, float]]] = {}
    total = 0.0
    tuning_runs = len(preset.tune_lrs) * len(preset.tune_seeds)  # trained, never tested
    runs = Counter((p.task, variant_key(p.model, p.hparams)) for p in grid(preset))
    for point in grid(preset, seeds=[0], lrs=[1e-3]):
        config = make_config(point.task, point.model, preset_name, hparams=point.hparams)
        key = variant_key(point.model, point.hparams)
        if measured is None:
            c = measure(point.task, point.model, repeats, hparams=config.hparams)
        else:
            c = {k: measured[point.task][key][k] for k in ("step_ms", "eval_s")}
        run_s = config.steps * c["step_ms"] / 1000 + c["eval_s"]
        costs.setdefault(point.task, {})[key] = {**c, "steps": config.steps, "run_s": run_s}
        total += (runs[(point.task, key)] + tuning_runs) * run_s - tuning_runs * c["eval_s"]
        print(f"{point.task:26s} {key:40s} step {c['step_ms']:6.1f} ms x {config.steps} "
              f"+ eval {c['eval_s']:5.1f} s = {run_s:6.0f} s/run", flush=True)
    print(f"{preset_name}: {sum(runs.values())} runs plus {tuning_runs} tuning runs per cell "
          f"(trained, never tested), {total:.0f} core-seconds = {total / 7200:.2f} h on 2 cores "
          f"(no contention)")
    return {"preset": preset_name, "runs": sum(runs.values()),
            "tuning_runs_per_cell": tuning_runs, "core_seconds": total, "costs": costs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(tasks.names()))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--length", type=int, default=20,
                        help="training length of the timed batch (default 20, the mean of "
                        "U{1..40}; 40 for the longest)")
    parser.add_argument("--no-eval", action="store_true", help="time training steps only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--estimate", metavar="PRESET",
                        help="add up PRESET's grid at its current steps from the step costs "
                        "measured by an earlier --size run (--out) and exit")
    parser.add_argument("--size", metavar="PRESET",
                        help="measure every task x variant of PRESET at its own widths and "
                        "add up its whole grid, tuning runs included")
    args = parser.parse_args(argv)
    if not args.estimate:
        cpu_env.pin()  # time what training runs compute (before any tensor operation)
    if args.size:
        torch.set_num_threads(1)
        sized = size_preset(args.size, args.repeats)
        write_json(args.out, {"benchmark": "step_costs --size", "threads": 1,
                              "torch_version": torch.__version__,
                              "cpu_env": cpu_env.settings(), **sized})
        return 0
    if args.estimate:  # an earlier --size file, re-added at the preset's current steps
        saved = json.loads(args.out.read_text())
        size_preset(args.estimate, args.repeats, measured=saved["costs"])
        return 0
    torch.set_num_threads(1)
    costs: dict[str, dict[str, dict[str, float]]] = {}
    for task_name in args.tasks.split(","):
        for model in args.models.split(","):
            costs.setdefault(task_name, {})[model] = c = measure(
                task_name, model, args.repeats, args.length, not args.no_eval)
            key = "step_cpu_ms" if "step_cpu_ms" in c else "step_ms"
            ratio = c[key] / costs[task_name]["pr_lstm"][key] \
                if "pr_lstm" in costs[task_name] else float("nan")
            print(f"{task_name:28s} {model:12s} step {c['step_ms']:7.1f} ms "
                  f"(CPU {c.get('step_cpu_ms', float('nan')):7.1f} ms, {ratio:4.2f}x pr_lstm) "
                  f" eval {c.get('eval_s', float('nan')):6.1f} s", flush=True)
    write_json(args.out, {"benchmark": "step_costs", "threads": 1, "hidden_size": 128,
                          "batch_size": 128, "train_length": args.length,
                          "eval": None if args.no_eval else "1..500 x 16",
                          "torch_version": torch.__version__,
                          "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                          "costs": costs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
