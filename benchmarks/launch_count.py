"""Kernel launches per Triton tree scan, forward and backward (runs on a CPU, no GPU needed).

Short sequences are bound by launch overhead, not by the GPU: at (B128, T40) each launch costs
a few microseconds of host time. This counts, for one ``lstm_tree_scan`` forward and backward
(H = 16 under the Triton interpreter; the counts do not depend on B or H), the Triton kernels
launched and the torch ops issued outside them, split into ops that launch a kernel and view
ops (host time only). Triton-internal tensor traffic of the interpreter is not counted.

    python benchmarks/launch_count.py --lengths 40,512,4096 --refinements 1 [--chunk 16]

``--host N`` (default 50) also times N passes with every launch stubbed out: the host time
(Python, torch dispatch, the torch ops on tiny CPU tensors) a GPU run pays per scan.

Writes ``benchmarks/results/launch_count.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

try:
    import prlstm  # noqa: F401
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from prlstm.cells import CombineCell  # noqa: E402
from prlstm.ops.triton import chunk, firsts, fwd, rounds  # noqa: E402
from prlstm.ops.triton.rounds import Weights  # noqa: E402
from prlstm.ops.triton.tree import scan_bwd, scan_fwd  # noqa: E402

VIEW_OPS = {"slice", "select", "alias", "view", "t", "as_strided", "expand", "unsqueeze",
            "squeeze", "reshape", "permute", "transpose", "detach", "_unsafe_view"}
ALLOC_OPS = {"empty", "new_empty", "empty_strided"}
KERNELS = [(fwd, "stage_fwd"), (rounds, "stage_bwd"),
           (rounds, "input_grad"), (chunk, "_launch"), (firsts, "_launch")]


class _Counter(TorchDispatchMode):
    """Counts aten ops by name while no Triton kernel is running."""

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__()
        self.state = state

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        if not self.state["inside"]:
            self.state["ops"][func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _patch(state: dict[str, Any], set_attr: Any = setattr) -> None:
    """Wrap every kernel entry point so it counts itself and hides its internals
    (``set_attr``: how to install the wrappers, e.g. pytest's ``monkeypatch.setattr``)."""
    for mod, name in KERNELS:
        real = getattr(mod, name)
        label = f"{mod.__name__.rsplit('.', 1)[1]}.{name.strip('_')}"

        def wrapped(*a: Any, _real=real, _label=label, **k: Any) -> Any:  # noqa: ANN001
            if state.get("stub"):
                return None  # host-time mode: the launch does nothing
            state["kernels"][_label] += 1
            state["inside"] = True
            try:
                return _real(*a, **k)
            finally:
                state["inside"] = False

        set_attr(mod, name, wrapped)


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    ops = state["ops"]
    kernel_ops = {k: v for k, v in ops.items() if k not in VIEW_OPS | ALLOC_OPS}
    return {"triton_launches": dict(state["kernels"]),
            "triton_total": sum(state["kernels"].values()),
            "torch_kernel_ops": dict(kernel_ops), "torch_kernel_total": sum(kernel_ops.values()),
            "allocations": sum(ops[k] for k in ALLOC_OPS),
            "view_ops": sum(ops[k] for k in VIEW_OPS)}


def count(T: int, R: int, chunk_size: int, state: dict[str, Any], host_reps: int = 0
          ) -> dict[str, Any]:
    """Launch counts of one forward and backward; with ``host_reps``, also the mean host time
    (µs) of each with every kernel launch replaced by a no-op (``host_us``: the Python and
    torch-dispatch overhead that a GPU run pays on the CPU, here on tiny CPU tensors)."""
    torch.manual_seed(0)
    cell = CombineCell(3, 16, "lstm", R)
    lins = [cell.merge, *cell.refine]
    wts = Weights.build([m.weight.detach() for m in lins], [m.bias.detach() for m in lins])
    with torch.no_grad():
        h0, c0 = (t.contiguous() for t in cell.leaf_state(torch.randn(1, T, 3)))
    res: dict[str, Any] = {"T": T, "refinements": R, "chunk": chunk_size}
    g_out = (torch.ones(1, T, 16, dtype=h0.dtype), torch.ones(1, T, 16))
    for phase in ("forward", "backward"):
        state.update(kernels=collections.Counter(), ops=collections.Counter())
        with _Counter(state):
            if phase == "forward":
                out = scan_fwd(wts, h0, c0, chunk_size)
            else:
                scan_bwd(wts, h0, c0, out[:2], out[2:], g_out)
        res[phase] = _summary(state)
    if host_reps:
        state["stub"] = True
        try:
            for phase, fn in (("forward", lambda: scan_fwd(wts, h0, c0, chunk_size)),
                              ("backward", lambda: scan_bwd(wts, h0, c0, out[:2], out[2:],
                                                            g_out))):
                fn()
                t0 = time.perf_counter()
                for _ in range(host_reps):
                    fn()
                res[phase]["host_us"] = (time.perf_counter() - t0) / host_reps * 1e6
        finally:
            state["stub"] = False
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="40,512,4096")
    ap.add_argument("--refinements", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=0, help="chunk kernels in the forward (0 = off)")
    ap.add_argument("--host", type=int, default=50, metavar="N",
                    help="also time N host-only passes with launches stubbed (0 = off)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "launch_count.json")
    args = ap.parse_args(argv)
    state: dict[str, Any] = {"inside": False}
    _patch(state)
    rows = []
    for T in (int(v) for v in args.lengths.split(",")):
        if T < 1:
            raise ValueError(f"--lengths must be positive, got {T}")
        r = count(T, args.refinements, args.chunk, state, args.host)
        rows.append(r)
        for phase in ("forward", "backward"):
            p = r[phase]
            host = f"host {p['host_us']:6.0f} us  " if "host_us" in p else ""
            print(f"T={T:<5} R={args.refinements} chunk={args.chunk:<3} {phase:<8} "
                  f"triton {p['triton_total']:4d}  torch kernels {p['torch_kernel_total']:4d}  "
                  f"allocations {p['allocations']:4d}  views {p['view_ops']:4d}  {host}"
                  f"{p['torch_kernel_ops']}", flush=True)
    from prlstm.experiments.run.io import write_json  # atomic: temp file, then rename

    write_json(args.out, {"rows": rows, "note": __doc__.split("\n\n")[1]})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
