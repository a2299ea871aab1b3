"""``torch.compile`` vs eager for the PR-LSTM layer on a CPU: a forward and a training step.

Shapes follow benchmarks/speed.py: the CPU forward target (B32, T512, H256, R1) and the short
training step (B128, T40: forward + backward + Adam), one-hot inputs of width 3 and the
``Linear(relu(h))`` readout of ``speedbench.models.PRNet`` on the ``levelwise`` backend.
Compiled runs use ``fullgraph=True`` (the layer is one graph) with the default inductor
backend; the compile time is reported apart from the timed calls. Outputs of the compiled
model are checked against eager before timing.

    python benchmarks/compile_speed.py                  # median of up to 20 calls per point
    python benchmarks/compile_speed.py --repeats 3      # quick

Writes JSON (atomically) to ``--out`` (default ``benchmarks/results/compile_speed_cpu.json``).
"""

from __future__ import annotations

import argparse
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

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by path
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import write_json_atomic  # noqa: E402
from speedbench.models import PRNet  # noqa: E402
from speedbench.timing import ms_stats, one_hot_batch, timeit  # noqa: E402

CPU = torch.device("cpu")
FORWARD = {"batch": 32, "T": 512, "hidden": 256}
TRAIN = {"batch": 128, "T": 40, "hidden": 256}


def _model(hidden: int) -> PRNet:
    torch.manual_seed(0)
    return PRNet(hidden, 1, "levelwise")


def forward_point(repeats: int) -> dict[str, Any]:
    """Inference forward, eager vs compiled (same weights, same inputs)."""
    model = _model(FORWARD["hidden"]).eval()
    x = one_hot_batch(FORWARD["batch"], FORWARD["T"], CPU)
    compiled = torch.compile(model, fullgraph=True)
    with torch.inference_mode():
        t0 = time.perf_counter()
        got = compiled(x)
        compile_s = time.perf_counter() - t0
        err = (got - model(x)).abs().max().item()
        eager = timeit(lambda: model(x), CPU, repeats, budget_s=60.0)
        comp = timeit(lambda: compiled(x), CPU, repeats, budget_s=60.0)
    return {**FORWARD, "compile_s": compile_s, "max_abs_diff": err,
            "eager": ms_stats(eager), "compiled": ms_stats(comp),
            "speedup": eager["median"] / comp["median"]}


def _train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()

    return step


def train_point(repeats: int) -> dict[str, Any]:
    """Forward + backward + Adam, eager vs compiled model (separate copies, same start)."""
    x = one_hot_batch(TRAIN["batch"], TRAIN["T"], CPU)
    y = torch.randint(0, 2, (TRAIN["batch"], TRAIN["T"]),
                      generator=torch.Generator().manual_seed(1))
    eager_model, comp_model = _model(TRAIN["hidden"]), _model(TRAIN["hidden"])
    compiled = torch.compile(comp_model, fullgraph=True)
    with torch.no_grad():
        err = (compiled(x) - eager_model(x)).abs().max().item()
    step_c = _train_step(compiled, x, y)
    t0 = time.perf_counter()
    step_c()
    compile_s = time.perf_counter() - t0
    eager = timeit(_train_step(eager_model, x, y), CPU, repeats, budget_s=60.0)
    comp = timeit(step_c, CPU, repeats, budget_s=60.0)
    return {**TRAIN, "compile_s": compile_s, "max_abs_diff": err,
            "eager": ms_stats(eager), "compiled": ms_stats(comp),
            "speedup": eager["median"] / comp["median"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per point (max)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent
                        / "results" / "compile_speed_cpu.json")
    args = parser.parse_args(argv)
    res = {"forward": forward_point(args.repeats), "train_step": train_point(args.repeats)}
    for name, r in res.items():
        print(f"{name:<10} eager {r['eager']['ms_median']:8.1f} ms  compiled "
              f"{r['compiled']['ms_median']:8.1f} ms  x{r['speedup']:.2f}  "
              f"(compile {r['compile_s']:.1f} s, max |diff| {r['max_abs_diff']:.1e})")
    payload = {"benchmark": "compile_speed", "device": "cpu", "repeats": args.repeats,
               "torch": torch.__version__, "prlstm": prlstm.__version__,
               "threads": torch.get_num_threads(), "platform": platform.platform(),
               "backend": "levelwise", "results": res}
    write_json_atomic(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
