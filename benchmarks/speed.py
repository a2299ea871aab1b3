"""Speed and memory of PR-LSTM against nn.LSTM and the transformer baseline (issue 5; E5).

Measures, per model and dtype:

* E5 (experiments.md): inference time and peak memory vs sequence length at batch 1024
  (each point: the mean over up to 100 forward passes, capped by a time budget; the peak
  memory counter is reset per point; a curve stops past 500 ms per pass or out of memory);
* training steps (forward + backward + Adam) at (B128, T40) and (B16, T4096), tokens/s;
* peak training memory vs T at B16 (should be linear in T), and bytes saved for backward;
* the targets of issue 5 (GPU) with PASS/FAIL; ratios vs nn.LSTM are printed as it goes.

Every model computes logits at every position from one-hot inputs of width 3 (parity_check's
two symbols plus the empty token), untrained: PR-LSTM = ``PRLSTM(3, H, R)`` + ``Linear(relu(h))``
per backend, ``nn.LSTM(3, H)`` + ``Linear`` (cuDNN on CUDA), and the transformer baseline of
``prlstm.models`` (5 layers, width 64, 8 heads, SDPA). bf16 runs under autocast (fp32 params).

    python benchmarks/speed.py --device cuda                 # GPU sizes, ~4 min on H100/H200
    python benchmarks/speed.py --device cpu --quick          # small sizes, < 1 min
    python benchmarks/speed.py --device cpu --issue2         # issue 2's CPU targets
    python benchmarks/speed.py --device cuda --sweep-tiles   # Triton tile candidates
    python benchmarks/speed.py --plot results.json           # redraw a PNG from its JSON

Writes JSON (atomically) and a PNG next to it: ``--out`` (default
``benchmarks/results/speed_<device>[_quick|_issue2].json``).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:
    import prlstm
except ImportError:  # a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import prlstm

from prlstm import PRLSTM
from prlstm.ops import BACKENDS

D_IN, CLASSES = 3, 2  # one-hot width (parity_check: 2 symbols + empty), output classes
CUTOFF_S = 0.5  # a curve stops past 500 ms per pass (E5)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
RESULTS = Path(__file__).resolve().parent / "results"

# Issue 5 targets (H = 256, R = 1, H200) and issue 2 targets (CPU, H = 256, R = 1, B32 T512).
GPU_TARGETS = {"forward_B1024_T2048_ms": 22.0, "bf16_tokens_per_s": 100e6,
               "train_B16_T4096_speedup_vs_lstm": 10.0, "train_B128_T40_ms": 1.2}
CPU_TARGETS = {"forward_speed_vs_lstm": 0.12, "train_speed_vs_lstm": 0.12,
               "step_time_vs_lstmcell": 8.0}


# ----------------------------------------------------------------------------------- models
class PRNet(nn.Module):
    """``PRLSTM`` + ``Linear(relu(h_t))``: ``forward(x (B, T, D)) -> logits (B, T, C)``.

    ``backend`` is a layer backend, or ``"triton-c<C>"``: the Triton scan with the chunk
    kernels of chunk size ``C`` in its forward (called directly; the layer does not expose it).
    """

    def __init__(self, hidden: int, refinements: int, backend: str) -> None:
        super().__init__()
        self.chunk = 0
        if backend.startswith("triton-c"):
            self.chunk = int(backend.removeprefix("triton-c"))
            backend = "triton"
        elif backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} or 'triton-c<C>', "
                             f"got {backend!r}")
        self.pr = PRLSTM(D_IN, hidden, refinements=refinements,
                         backend="levelwise" if self.chunk else backend)
        self.readout = nn.Linear(hidden, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        if self.chunk:
            from prlstm.ops import triton as tri

            if not tri.available():
                raise RuntimeError("pr_lstm:triton-c<C> needs triton and a CUDA device "
                                   "(or TRITON_INTERPRET=1)")
            cell = self.pr.layers[0]
            h = tri.scan(tri.make_combine(cell, self.chunk), cell.leaf_state(x))[0]
        else:
            h, _ = self.pr(x)
        return self.readout(torch.relu(h))


class LSTMNet(nn.Module):
    """``nn.LSTM`` (cuDNN on CUDA) + ``Linear``: ``(B, T, D) -> (B, T, C)``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(D_IN, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.lstm(x)[0])


class TransformerNet(nn.Module):
    """The project's transformer core (``prlstm.models``) or, if missing, a plain encoder."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from prlstm import models

            self.core: nn.Module = models.build("transformer", D_IN - 1, CLASSES).core
            self.source = "prlstm.models.build('transformer')"
        except Exception:  # noqa: BLE001 - the colleague's module may not exist yet
            layer = nn.TransformerEncoderLayer(64, 8, 256, batch_first=True)
            self.core = nn.Sequential(nn.Linear(D_IN, 64), nn.TransformerEncoder(layer, 5),
                                      nn.Linear(64, CLASSES))
            self.source = "nn.TransformerEncoder(5 layers, d=64, 8 heads, ff=256) fallback"

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.core, nn.Sequential):
            return self.core(x)
        return self.core(x, input_length=x.shape[1])


def make_model(name: str, hidden: int, refinements: int, device: torch.device) -> nn.Module:
    """``pr_lstm:<backend>``, ``lstm`` or ``transformer`` on ``device``."""
    if name.startswith("pr_lstm:"):
        model: nn.Module = PRNet(hidden, refinements, name.split(":", 1)[1])
    elif name == "lstm":
        model = LSTMNet(hidden)
    elif name == "transformer":
        model = TransformerNet()
    else:
        raise ValueError(f"unknown model {name!r}")
    return model.to(device)


# Backends that loop over positions in Python: E5 times their forward (its 500 ms cutoff ends
# their curves early); training steps and training memory skip them.
LOOP_BACKENDS = ("pr_lstm:reference", "pr_lstm:streaming")


def default_models(device: torch.device) -> list[str]:
    """PR-LSTM per usable backend (triton only on CUDA), nn.LSTM, the transformer."""
    names = ["pr_lstm:levelwise", "pr_lstm:chunked", *LOOP_BACKENDS]
    if device.type == "cuda":
        from prlstm.ops import triton as tri

        if tri.available():
            names.append("pr_lstm:triton")
    return [*names, "lstm", "transformer"]


def with_chunk_models(models: list[str], chunk: int) -> list[str]:
    """``models`` plus ``pr_lstm:triton-c<chunk>`` after ``pr_lstm:triton`` (E5 only)."""
    if not chunk or "pr_lstm:triton" not in models:
        return models
    extra = f"pr_lstm:triton-c{chunk}"
    return models if extra in models else [*models, extra]


# ------------------------------------------------------------------------------ measuring
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], Any], device: torch.device, max_iters: int, budget_s: float,
           warmup: int = 2) -> dict[str, float]:
    """Time up to ``max_iters`` calls (at least 3 unless one exceeds the 500 ms cutoff, and no
    more than fit in ``budget_s``) after ``warmup`` calls.

    Returns ``mean`` (E5's statistic), ``median`` (used for ratios and PASS/FAIL: robust on
    a shared machine) and ``min`` in seconds, and ``n``.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    while len(times) < max_iters and (len(times) < 3 or sum(times) < budget_s):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        if times[-1] > CUTOFF_S:
            break
    return {"mean": statistics.fmean(times), "median": statistics.median(times),
            "min": min(times), "n": len(times)}


def peak_bytes(fn: Callable[[], Any], device: torch.device) -> int | None:
    """Peak bytes allocated by one call beyond what was live before it.

    CUDA: the allocator's peak counter, reset first. CPU: a running sum of the profiler's
    per-op allocations and frees (exact for tensors, ignores allocator caching).
    """
    if device.type == "cuda":
        sync(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()
                    if e.self_cpu_memory_usage)
    run = peak = 0
    for _, delta in events:
        run += delta
        peak = max(peak, run)
    return peak


def saved_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of tensors autograd saves for backward during ``fn()`` (exact, any device)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen[id(t)] = t.numel() * t.element_size()  # parameters saved twice count once
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def one_hot_batch(B: int, T: int, device: torch.device, seed: int = 0) -> Tensor:
    """Random parity_check-like inputs: one-hots ``(B, T, 3)`` of symbols {0, 1}."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.randint(0, D_IN - 1, (B, T), generator=g)
    return F.one_hot(ids, D_IN).float().to(device)


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err)


def autocast(device: torch.device, dtype: torch.dtype) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype != torch.float32)


# ------------------------------------------------------------------------------------ E5
def inference_curves(models: list[str], dtypes: list[str], lengths: list[int], batch: int,
                     hidden: int, R: int, device: torch.device, max_iters: int,
                     budget_s: float) -> list[dict[str, Any]]:
    """E5: forward time and peak memory vs length; prints ratios vs nn.LSTM."""
    rows: list[dict[str, Any]] = []
    for dname in dtypes:
        dtype = DTYPES[dname]
        lstm_ms: dict[int, float] = {}
        for name in sorted(models, key=lambda n: n != "lstm"):  # nn.LSTM first, for ratios
            model = make_model(name, hidden, R, device).eval()
            stopped = False
            for T in lengths:
                row: dict[str, Any] = {"model": name, "dtype": dname, "batch": batch, "T": T}
                if stopped or T < min_length(name):
                    continue
                x = one_hot_batch(batch, T, device)

                def fwd(model: nn.Module = model, x: Tensor = x,
                        dtype: torch.dtype = dtype) -> Tensor:
                    with torch.no_grad(), autocast(device, dtype):
                        return model(x)

                try:
                    tm = timeit(fwd, device, max_iters, budget_s)
                    row.update(_times(tm), passes=tm["n"], tokens_per_s=batch * T / tm["mean"],
                               peak_bytes=peak_bytes(fwd, device))
                except Exception as err:  # noqa: BLE001 - see below
                    # Out of memory ends a curve; so does any error of the Triton models (one
                    # GPU run should report the others rather than stop); anything else raises.
                    if not is_oom(err) and not name.startswith("pr_lstm:triton"):
                        raise
                    row.update(ms=None, error="out of memory" if is_oom(err) else
                               repr(err)[:300])
                    print(f"  E5 {dname} {name:<20} T={T:<5} {row['error']}", flush=True)
                    stopped = True
                    torch.cuda.empty_cache() if device.type == "cuda" else None
                del x
                if row.get("ms") is not None:
                    if name == "lstm":
                        lstm_ms[T] = row["ms_median"]
                    ratio = row["ms_median"] / lstm_ms[T] if T in lstm_ms else None
                    row["time_vs_lstm"] = ratio
                    stopped = row["ms_median"] > CUTOFF_S * 1e3
                    print(f"  E5 {dname} {name:<20} T={T:<5} {row['ms']:9.3f} ms  "
                          f"{_mb(row['peak_bytes'])}  "
                          f"{'' if ratio is None else f'{ratio:6.2f}x nn.LSTM time'}",
                          flush=True)
                rows.append(row)
            del model
    return rows


def min_length(name: str) -> int:
    """Shortest E5 length timed for ``name``: two chunks for the chunk-kernel variants (shorter
    runs would only add kernel specializations to compile), else 1."""
    if name.startswith("pr_lstm:triton-c"):
        return 2 * int(name.removeprefix("pr_lstm:triton-c"))
    return 1


def _times(tm: dict[str, float]) -> dict[str, float]:
    """``ms`` (mean, E5), ``ms_median`` and ``ms_min`` from :func:`timeit`'s seconds."""
    return {"ms": tm["mean"] * 1e3, "ms_median": tm["median"] * 1e3, "ms_min": tm["min"] * 1e3}


def _mb(b: int | None) -> str:
    return "   n/a   " if b is None else f"{b / 2**20:9.1f} MiB"


# ------------------------------------------------------------------------------ training
def train_step_fn(model: nn.Module, x: Tensor, y: Tensor, device: torch.device,
                  dtype: torch.dtype, graph: bool = False) -> Callable[[], None]:
    """One step: cross-entropy on every position, backward, Adam.

    ``graph``: capture the whole step once in a CUDA graph and replay it (static inputs;
    removes the per-launch CPU overhead that dominates short sequences).
    """
    kw: dict[str, Any] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if graph:
        kw["capturable"] = True
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **kw)

    def step() -> None:
        if not graph:
            opt.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            logits = model(x)  # (B, T, C)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()

    if not graph:
        return step
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm up (compiles kernels, allocates state) off-graph
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    cuda_graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(cuda_graph):
        step()
    return cuda_graph.replay


def training(models: list[str], dtypes: list[str], shapes: list[tuple[int, int]], hidden: int,
             R: int, device: torch.device, max_iters: int, budget_s: float
             ) -> list[dict[str, Any]]:
    """Training-step time, tokens/s and peak memory per (B, T); ratios vs nn.LSTM."""
    rows: list[dict[str, Any]] = []
    for dname in dtypes:
        for B, T in shapes:
            lstm_ms = None
            names = sorted((m for m in models if m not in LOOP_BACKENDS),
                           key=lambda n: n != "lstm")
            if device.type == "cuda" and "pr_lstm:triton" in models and T <= 64:
                names.append("pr_lstm:triton+graph")
            for name in names:
                torch.manual_seed(0)
                graph = name.endswith("+graph")
                model = make_model(name.removesuffix("+graph"), hidden, R, device).train()
                x = one_hot_batch(B, T, device)
                y = torch.randint(0, CLASSES, (B, T), device=device)
                row: dict[str, Any] = {"model": name, "dtype": dname, "batch": B, "T": T}
                try:
                    step = train_step_fn(model, x, y, device, DTYPES[dname], graph)
                    tm = timeit(step, device, max_iters, budget_s)
                    row.update(_times(tm), steps=tm["n"], tokens_per_s=B * T / tm["median"],
                               peak_bytes=peak_bytes(step, device))
                except Exception as err:  # noqa: BLE001 - triton/graph errors are reported
                    if not is_oom(err) and not graph and not name.startswith("pr_lstm:triton"):
                        raise
                    row.update(ms=None, error="out of memory" if is_oom(err) else repr(err)[:300])
                    step = None
                if name == "lstm" and row.get("ms"):
                    lstm_ms = row["ms_median"]
                if row.get("ms") and lstm_ms:
                    row["speedup_vs_lstm"] = lstm_ms / row["ms_median"]
                if row.get("ms"):
                    print(f"  train {dname} {name:<20} B={B:<4} T={T:<5} {row['ms']:9.3f} ms "
                          f"{row['tokens_per_s'] / 1e6:8.2f} Mtok/s {_mb(row['peak_bytes'])}"
                          f"  {row.get('speedup_vs_lstm', float('nan')):6.2f}x nn.LSTM speed",
                          flush=True)
                else:
                    print(f"  train {dname} {name:<20} B={B:<4} T={T:<5} {row.get('error')}",
                          flush=True)
                rows.append(row)
                del model, step
    return rows


def train_memory(models: list[str], dtype: str, batch: int, lengths: list[int], hidden: int,
                 R: int, device: torch.device) -> list[dict[str, Any]]:
    """Peak training memory and bytes saved for backward vs T (one step each)."""
    rows = []
    for name in models:
        if name == "transformer" or name in LOOP_BACKENDS:
            continue  # quadratic by design / loops over positions; E5 shows them
        model = make_model(name, hidden, R, device).train()
        for T in lengths:
            x = one_hot_batch(batch, T, device)
            y = torch.randint(0, CLASSES, (batch, T), device=device)
            step = train_step_fn(model, x, y, device, DTYPES[dtype])
            row: dict[str, Any] = {"model": name, "dtype": dtype, "batch": batch, "T": T}
            try:
                step()
                row["peak_bytes"] = peak_bytes(step, device)

                def fwd(model: nn.Module = model, x: Tensor = x) -> Tensor:
                    with autocast(device, DTYPES[dtype]):
                        return model(x)

                row["saved_bytes"] = saved_bytes(fwd)
            except Exception as err:  # noqa: BLE001 - triton errors are reported
                if not is_oom(err) and not name.startswith("pr_lstm:triton"):
                    raise
                row["error"] = "out of memory" if is_oom(err) else repr(err)[:300]
            rows.append(row)
        del model
    return rows


def linearity(rows: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Per model: ratio of the last increment to the first, scaled by their T steps.

    1.0 means exactly linear in T; quadratic growth doubles it per doubling of T.
    """
    out: dict[str, float | None] = {}
    for name in sorted({r["model"] for r in rows}):
        pts = [(r["T"], r.get(key)) for r in rows if r["model"] == name and r.get(key)]
        if len(pts) < 3:
            out[name] = None
            continue
        (t0, b0), (t1, b1), (t2, b2) = pts[0], pts[1], pts[-1]
        d1, d2 = (b1 - b0) / (t1 - t0), (b2 - pts[-2][1]) / (t2 - pts[-2][0])
        out[name] = d2 / d1 if d1 > 0 else None
    return out


# -------------------------------------------------------------------------------- targets
def gpu_targets(e5: list[dict], train: list[dict], mem: list[dict]) -> dict[str, Any]:
    """Issue 5's targets for the best PR-LSTM backend (triton when present)."""
    def pick(rows: list[dict], model: str, dtype: str, **kv: int) -> dict | None:
        for r in rows:
            if r["model"] == model and r["dtype"] == dtype and r.get("ms") and all(
                    r[k] == v for k, v in kv.items()):
                return r
        return None

    pr = "pr_lstm:triton" if any(r["model"] == "pr_lstm:triton" for r in e5) else \
        "pr_lstm:levelwise"
    res: dict[str, Any] = {"model": pr}
    fwd_models = sorted({r["model"] for r in e5 if r["model"].startswith(pr)})

    def best(dtype: str) -> dict | None:  # fastest forward among pr and its chunk variants
        rows = [r for m in fwd_models if (r := pick(e5, m, dtype, batch=1024, T=2048))]
        return min(rows, key=lambda r: r["ms"]) if rows else None

    f_bf16, f_fp32 = best("bf16"), best("fp32")
    for m in fwd_models:
        r = pick(e5, m, "bf16", batch=1024, T=2048)
        if r:
            res[f"forward_B1024_T2048_bf16_ms[{m}]"] = r["ms"]
    if f_bf16:
        res["forward_model_bf16"] = f_bf16["model"]
    if f_fp32:
        res["forward_model_fp32"] = f_fp32["model"]
    lstm_bf16 = pick(e5, "lstm", "bf16", batch=1024, T=2048)
    lstm_fp32 = pick(e5, "lstm", "fp32", batch=1024, T=2048)
    if f_bf16:
        res["forward_B1024_T2048_bf16_ms"] = f_bf16["ms"]
        res["bf16_tokens_per_s"] = f_bf16["tokens_per_s"]
        res["forward_le_22ms"] = f_bf16["ms"] <= GPU_TARGETS["forward_B1024_T2048_ms"]
        res["tokens_ge_100M"] = f_bf16["tokens_per_s"] >= GPU_TARGETS["bf16_tokens_per_s"]
        if lstm_bf16:
            res["forward_faster_than_lstm_bf16"] = f_bf16["ms"] < lstm_bf16["ms"]
    if f_fp32:
        res["forward_B1024_T2048_fp32_ms"] = f_fp32["ms"]
        if lstm_fp32:
            res["forward_faster_than_lstm_fp32"] = f_fp32["ms"] < lstm_fp32["ms"]
    for dtype in ("fp32", "bf16"):
        long = pick(train, pr, dtype, batch=16, T=4096)
        short = pick(train, pr, dtype, batch=128, T=40)
        if long and long.get("speedup_vs_lstm"):
            res[f"train_B16_T4096_{dtype}_speedup"] = long["speedup_vs_lstm"]
            res[f"train_B16_T4096_{dtype}_ge_10x"] = long["speedup_vs_lstm"] >= 10.0
        if short:
            res[f"train_B128_T40_{dtype}_ms"] = short["ms"]
            res[f"train_B128_T40_{dtype}_le_1.2ms"] = short["ms"] <= 1.2
        graphed = pick(train, pr + "+graph", dtype, batch=128, T=40)
        if graphed:
            res[f"train_B128_T40_{dtype}_cuda_graph_ms"] = graphed["ms"]
            res[f"train_B128_T40_{dtype}_cuda_graph_le_1.2ms"] = graphed["ms"] <= 1.2
    lin = linearity([r for r in mem if r["model"] == pr], "peak_bytes").get(pr)
    res["train_memory_linearity"] = lin
    res["train_memory_linear"] = None if lin is None else lin <= 1.25
    return res


def print_targets(res: dict[str, Any]) -> None:
    print(f"\nIssue 5 targets ({res['model']}):")
    for k, v in res.items():
        if isinstance(v, bool):
            print(f"  {'PASS' if v else 'FAIL'}  {k}")
        elif isinstance(v, float):
            print(f"        {k} = {v:.4g}")
        elif isinstance(v, str) and k != "model":
            print(f"        {k} = {v}")


# --------------------------------------------------------------------------------- issue 2
def issue2(device: torch.device, hidden: int, R: int, batch: int, T: int,
           budget_s: float) -> dict[str, Any]:
    """CPU targets of issue 2: levelwise vs nn.LSTM speed, streaming step, saved memory."""
    torch.manual_seed(0)
    pr = PRLSTM(D_IN, hidden, refinements=R, backend="levelwise").to(device)
    lstm = nn.LSTM(D_IN, hidden, batch_first=True).to(device)
    cell = nn.LSTMCell(D_IN, hidden).to(device)
    x = one_hot_batch(batch, T, device)
    res: dict[str, Any] = {"hidden": hidden, "refinements": R, "batch": batch, "T": T,
                           "threads": torch.get_num_threads()}

    def pr_fwd() -> Tensor:
        with torch.no_grad():
            return pr(x)[0]

    def lstm_fwd() -> Tensor:
        with torch.no_grad():
            return lstm(x)[0]

    def pr_train() -> None:
        pr.zero_grad(set_to_none=True)
        pr(x)[0].square().mean().backward()

    def lstm_train() -> None:
        lstm.zero_grad(set_to_none=True)
        lstm(x)[0].square().mean().backward()

    t = {k: timeit(f, device, 20, budget_s, warmup=1)["median"] for k, f in
         (("pr_fwd", pr_fwd), ("lstm_fwd", lstm_fwd), ("pr_train", pr_train),
          ("lstm_train", lstm_train))}
    res.update({f"{k}_ms": v * 1e3 for k, v in t.items()})
    res["forward_speed_vs_lstm"] = t["lstm_fwd"] / t["pr_fwd"]
    res["train_speed_vs_lstm"] = t["lstm_train"] / t["pr_train"]

    n_tok = min(T, 256)

    def stream() -> None:
        with torch.no_grad():
            state = pr.init_stream(batch)
            for i in range(n_tok):
                _, state = pr.step(x[:, i], state)

    def cell_loop() -> None:
        with torch.no_grad():
            hc = None
            for i in range(n_tok):
                hc = cell(x[:, i], hc)

    t_step = timeit(stream, device, 5, budget_s, warmup=1)["median"] / n_tok
    t_cell = timeit(cell_loop, device, 5, budget_s, warmup=1)["median"] / n_tok
    res.update(step_us_per_token=t_step * 1e6, lstmcell_us_per_token=t_cell * 1e6,
               step_time_vs_lstmcell=t_step / t_cell)
    mem = []
    for length in (T // 4, T // 2, T):
        xs = one_hot_batch(batch, length, device)
        mem.append({"T": length, "saved_bytes": saved_bytes(lambda xs=xs: pr(xs)[0]),
                    "saved_bytes_lstm": saved_bytes(lambda xs=xs: lstm(xs)[0])})
    res["saved_memory"] = mem
    (t0, b0), (t1, b1), (t2, b2) = ((m["T"], m["saved_bytes"]) for m in mem)
    res["saved_bytes_per_token"] = b2 / t2
    res["saved_memory_linearity"] = ((b2 - b1) / (t2 - t1)) / ((b1 - b0) / (t1 - t0))
    res["pass"] = {
        "forward_speed_vs_lstm>=0.12": res["forward_speed_vs_lstm"] >= 0.12,
        "train_speed_vs_lstm>=0.12": res["train_speed_vs_lstm"] >= 0.12,
        "step_time_vs_lstmcell<=8": res["step_time_vs_lstmcell"] <= 8.0,
        "saved_memory_linear_in_T": abs(res["saved_memory_linearity"] - 1.0) <= 0.1,
    }
    print(f"issue 2 (CPU, H={hidden}, R={R}, B={batch}, T={T}, "
          f"{res['threads']} threads):")
    print(f"  forward      levelwise {res['pr_fwd_ms']:8.1f} ms  nn.LSTM "
          f"{res['lstm_fwd_ms']:8.1f} ms  speed {res['forward_speed_vs_lstm']:.3f}x (>= 0.12)")
    print(f"  fwd+bwd      levelwise {res['pr_train_ms']:8.1f} ms  nn.LSTM "
          f"{res['lstm_train_ms']:8.1f} ms  speed {res['train_speed_vs_lstm']:.3f}x (>= 0.12)")
    print(f"  stream step  {res['step_us_per_token']:8.1f} us/token  LSTMCell "
          f"{res['lstmcell_us_per_token']:8.1f} us/token  {res['step_time_vs_lstmcell']:.2f}x "
          f"(<= 8)")
    print(f"  saved for backward: {res['saved_bytes_per_token'] / 1024:.1f} KiB/token at T={T};"
          f" increment ratio {res['saved_memory_linearity']:.3f} (1.0 = linear)")
    for k, ok in res["pass"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {k}")
    return res


# ---------------------------------------------------------------------------------- tiles
def sweep_tiles(device: torch.device, hidden: int, R: int, budget_s: float
                ) -> list[dict[str, Any]]:
    """Triton launch candidates: per-round tiles (forward B1024 T512 bf16 and a B16 T4096
    training step), then chunk sizes and chunk-kernel tiles (forward only)."""
    candidates = [("PRLSTM_TRITON_TILES", t, "pr_lstm:triton") for t in
                  ("64,32,64,8,3", "128,32,64,8,3", "128,32,32,8,3", "64,64,32,8,3",
                   "64,32,32,4,2", "64,16,64,4,3")]
    candidates += [("", "", f"pr_lstm:triton-c{c}") for c in (4, 8, 16, 32, 64)]
    candidates += [("PRLSTM_TRITON_CHUNK_TILES", t, "pr_lstm:triton-c16") for t in
                   ("64,16,64,8,1", "64,32,32,8,1", "128,16,32,8,1", "32,32,32,4,1")]
    rows = []
    for var, tiles, model in candidates:
        if var:
            os.environ[var] = tiles
        row: dict[str, Any] = {"model": model, "env": f"{var}={tiles}" if var else ""}
        try:
            e5 = inference_curves([model], ["bf16"], [512], 1024, hidden, R, device, 20,
                                  budget_s)
            row["forward_ms"] = e5[0].get("ms")
            if e5[0].get("error"):
                row["error"] = e5[0]["error"]
            elif model == "pr_lstm:triton":
                tr = training([model], ["bf16"], [(16, 4096)], hidden, R, device, 10,
                              budget_s)
                row["train_ms"] = tr[0].get("ms")
                if tr[0].get("error"):
                    row["error"] = tr[0]["error"]
        except Exception as err:  # noqa: BLE001 - a candidate may not compile
            row["error"] = repr(err)[:300]
        finally:
            os.environ.pop(var, None) if var else None
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


# --------------------------------------------------------------------------------- output
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


def plot(payload: dict[str, Any], path: Path) -> None:
    """Time and peak memory vs length (one line per model and dtype), and train memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    curves: dict[str, list[dict]] = {}
    for r in payload.get("inference", []):
        if r.get("ms"):
            curves.setdefault(f"{r['model']} {r['dtype']}", []).append(r)
    for label, rs in sorted(curves.items()):
        axes[0].plot([r["T"] for r in rs], [r["ms"] for r in rs], marker="o", ms=3, label=label)
        mem = [(r["T"], r["peak_bytes"] / 2**20) for r in rs if r.get("peak_bytes")]
        if mem:
            axes[1].plot(*zip(*mem, strict=True), marker="o", ms=3, label=label)
    tm: dict[str, list[dict]] = {}
    for r in payload.get("train_memory", []):
        if r.get("peak_bytes"):
            tm.setdefault(f"{r['model']} {r['dtype']}", []).append(r)
    for label, rs in sorted(tm.items()):
        axes[2].plot([r["T"] for r in rs], [r["peak_bytes"] / 2**20 for r in rs], marker="o",
                     ms=3, label=label)
    cfg = payload["config"]
    titles = (f"forward time, B={cfg['batch']} ({cfg['device_name']})",
              "forward peak memory (reset per point)",
              f"training peak memory, B={cfg['train_memory_batch']}")
    ylabels = ("ms per pass", "MiB", "MiB")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel=ylabel,
               title=title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU: < 1 minute)")
    ap.add_argument("--issue2", action="store_true", help="issue 2's CPU targets only")
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
    suffix = "_issue2" if args.issue2 else "_tiles" if args.sweep_tiles else \
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
    if args.issue2:
        hidden = 64 if args.quick else args.hidden
        payload["issue2"] = issue2(device, hidden, args.refinements, 32, 128 if args.quick
                                   else 512, args.budget or 3.0)
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
