"""Speed and memory of PR-LSTM against nn.LSTM and the transformer baseline (E5 and targets).

Measures, per model and dtype:

* E5 (docs/experiments.md#e5-inference-time-and-memory): inference time and peak memory vs
  sequence length at batch 1024
  (each point: the mean over up to 100 forward passes, capped by a time budget; the peak
  memory counter is reset per point; a curve stops past 500 ms per pass or out of memory);
* training steps (forward + backward + Adam) at (B128, T40) and (B16, T4096), tokens/s;
* peak training memory vs T at B16 (should be linear in T), and bytes saved for backward;
* the GPU speed targets with PASS/FAIL; ratios vs nn.LSTM are printed as it goes.

Every model computes logits at every position from one-hot inputs of width 3 (parity_check's
two symbols plus the empty token), untrained: PR-LSTM = ``PRLSTM(3, H, R)`` + ``Linear(relu(h))``
per backend, ``nn.LSTM(3, H)`` + ``Linear`` (cuDNN on CUDA), and the transformer baseline of
``prlstm.models`` (5 layers, width 64, 8 heads, SDPA). bf16 runs under autocast (fp32 params).

    python benchmarks/speed.py --device cuda                 # GPU sizes, ~4 min on H100/H200
    python benchmarks/speed.py --device cpu --quick          # small sizes, < 1 min
    python benchmarks/speed.py --device cpu --cpu-targets    # the CPU targets, PASS/FAIL
    python benchmarks/speed.py --device cuda --sweep-tiles   # Triton tile candidates
    python benchmarks/speed.py --plot results.json           # redraw a PNG from its JSON

Writes JSON (atomically) and a PNG next to it: ``--out`` (default
``benchmarks/results/speed_<device>[_quick|_targets].json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

try:
    import prlstm
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import prlstm

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by path (tests)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from speedbench import models as bench_models  # noqa: E402
from speedbench.e5 import inference_curves, min_length  # noqa: E402
from speedbench.models import (  # noqa: E402
    LOOP_BACKENDS,
    LSTMNet,
    PRNet,
    TransformerNet,
    default_models,
    make_model,
    with_chunk_models,
)
from speedbench.plotting import plot  # noqa: E402
from speedbench.targets import (  # noqa: E402
    CPU_TARGETS,
    GPU_TARGETS,
    cpu_targets,
    gpu_targets,
    print_targets,
)
from speedbench.tiles import sweep_tiles  # noqa: E402
from speedbench.timing import one_hot_batch, peak_bytes, saved_bytes, timeit  # noqa: E402
from speedbench.training import linearity, train_memory, train_step_fn, training  # noqa: E402

__all__ = ["CPU_TARGETS", "GPU_TARGETS", "LOOP_BACKENDS", "LSTMNet", "PRNet", "TransformerNet",
           "bench_models", "cpu_targets", "default_models", "gpu_targets", "inference_curves",
           "linearity", "main", "make_model", "min_length", "one_hot_batch", "peak_bytes",
           "plot", "print_targets", "saved_bytes", "sweep_tiles", "timeit", "train_memory",
           "train_step_fn", "training", "with_chunk_models", "write_json_atomic"]

RESULTS = Path(__file__).resolve().parent / "results"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` via a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU: < 1 minute)")
    ap.add_argument("--cpu-targets", action="store_true",
                    help="only the CPU targets (levelwise forward and training vs nn.LSTM, "
                         "streaming step vs nn.LSTMCell, saved memory linear in T)")
    ap.add_argument("--sweep-tiles", action="store_true", help="Triton tile candidates only")
    ap.add_argument("--models", help="comma list (pr_lstm:<backend>, lstm, transformer)")
    ap.add_argument("--dtypes", help="comma list of fp32,bf16 (default: fp32,bf16 on CUDA)")
    ap.add_argument("--lengths", help="comma list of E5 lengths")
    ap.add_argument("--batch", type=int, help="E5 batch (default 1024 on CUDA)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--refinements", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=16,
                    help="also time the Triton forward with chunk kernels of this size in E5 "
                         "(model pr_lstm:triton-c<C>; 0 = off; needs pr_lstm:triton)")
    ap.add_argument("--budget", type=float, help="seconds of timing per point")
    ap.add_argument("--threads", type=int,
                    help="torch CPU threads (default: torch's; 1 with --quick on CPU)")
    ap.add_argument("--out", type=Path, help="JSON path (PNG next to it)")
    ap.add_argument("--plot", type=Path, metavar="JSON", help="only redraw the PNG of a JSON")
    args = ap.parse_args(argv)
    if args.plot:
        plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png"))
        print(f"wrote {args.plot.with_suffix('.png')}")
        return 0
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif args.quick and device.type == "cpu":
        torch.set_num_threads(1)  # stable on a shared machine; oversubscribed threads are not
    gpu = device.type == "cuda"
    suffix = "_targets" if args.cpu_targets else "_tiles" if args.sweep_tiles else \
        "_quick" if args.quick else ""
    out = args.out or RESULTS / f"speed_{device.type}{suffix}.json"
    payload: dict[str, Any] = {"config": {
        "device": str(device), "device_name": torch.cuda.get_device_name(device) if gpu
        else platform.processor() or platform.machine(), "torch": torch.__version__,
        "prlstm": prlstm.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "hidden": args.hidden,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "refinements": args.refinements, "argv": sys.argv[1:]}}
    t_start = time.perf_counter()
    if args.cpu_targets:
        hidden = 64 if args.quick else args.hidden
        payload["cpu_targets"] = cpu_targets(device, hidden, args.refinements, 32,
                                             128 if args.quick else 512, args.budget or 3.0)
        write_json_atomic(out, payload)
        print(f"wrote {out}")
        return 0
    if args.sweep_tiles:
        payload["tiles"] = sweep_tiles(device, args.hidden, args.refinements, args.budget or 1.0)
        write_json_atomic(out, payload)
        print(f"wrote {out}")
        return 0

    if gpu:
        batch = args.batch or 1024
        lengths = [1, 5, 10, 20, 40, 64, 100, 200, 512, 1000, 2048]
        shapes, mem_batch, mem_lengths = [(128, 40), (16, 4096)], 16, [512, 1024, 2048, 4096]
        max_iters, budget, hidden = 100, args.budget or 0.6, args.hidden
        dtypes = ["fp32", "bf16"]
    elif args.quick:
        batch = args.batch or 16
        lengths = [1, 4, 16, 64, 256]
        shapes, mem_batch, mem_lengths = [(16, 40), (2, 256)], 2, [64, 128, 256]
        max_iters, budget, hidden = 5, args.budget or 0.2, min(args.hidden, 64)
        dtypes = ["fp32"]
    else:
        batch = args.batch or 64
        lengths = [1, 5, 10, 20, 40, 100, 200, 500, 1000]
        shapes, mem_batch, mem_lengths = [(128, 40), (16, 1024)], 4, [128, 256, 512, 1024]
        max_iters, budget, hidden = 20, args.budget or 1.0, args.hidden
        dtypes = ["fp32"]
    if args.lengths:
        lengths = [int(v) for v in args.lengths.split(",")]
    if args.dtypes:
        dtypes = args.dtypes.split(",")
    models = args.models.split(",") if args.models else default_models(device)
    payload["config"].update(batch=batch, lengths=lengths, train_shapes=shapes,
                             train_memory_batch=mem_batch, dtypes=dtypes, models=models,
                             hidden=hidden, max_passes=max_iters, budget_s_per_point=budget,
                             transformer=TransformerNet().source,
                             workload="untrained, one-hot inputs of width 3, logits at every "
                                      "position; bf16 = autocast with fp32 parameters")
    print(f"device {payload['config']['device_name']}, H={hidden}, R={args.refinements}, "
          f"models {models}, dtypes {dtypes}", flush=True)
    e5_models = with_chunk_models(models, args.chunk)
    payload["config"]["e5_models"] = e5_models
    payload["inference"] = inference_curves(e5_models, dtypes, lengths, batch, hidden,
                                            args.refinements, device, max_iters, budget)
    write_json_atomic(out, payload)  # partial results survive a later failure
    payload["training"] = training(models, dtypes, shapes, hidden, args.refinements, device,
                                   max_iters, budget)
    payload["train_memory"] = train_memory(models, dtypes[-1], mem_batch, mem_lengths, hidden,
                                           args.refinements, device)
    payload["train_memory_linearity"] = {
        "peak_bytes": linearity(payload["train_memory"], "peak_bytes"),
        "saved_bytes": linearity(payload["train_memory"], "saved_bytes")}
    print(f"  train memory linearity (1.0 = linear in T): "
          f"{payload['train_memory_linearity']}")
    if gpu and hidden == 256 and args.refinements == 1:
        payload["targets"] = gpu_targets(payload["inference"], payload["training"],
                                         payload["train_memory"])
        print_targets(payload["targets"])
    payload["config"]["wall_s"] = round(time.perf_counter() - t_start, 1)
    write_json_atomic(out, payload)
    try:
        plot(payload, out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}")
    except ImportError:
        print(f"wrote {out} (matplotlib missing: no plot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
