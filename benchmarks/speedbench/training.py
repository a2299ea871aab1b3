"""Training steps (forward, cross-entropy, backward, Adam) and training memory vs T."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speedbench import models as bench_models
from speedbench.models import CLASSES, LOOP_BACKENDS
from speedbench.timing import (
    DTYPES,
    autocast,
    fmt_mb,
    is_oom,
    ms_stats,
    one_hot_batch,
    peak_bytes,
    saved_bytes,
    timeit,
)


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
                model = bench_models.make_model(name.removesuffix("+graph"), hidden, R,
                                                device).train()
                x = one_hot_batch(B, T, device)
                y = torch.randint(0, CLASSES, (B, T), device=device)
                row: dict[str, Any] = {"model": name, "dtype": dname, "batch": B, "T": T}
                try:
                    step = train_step_fn(model, x, y, device, DTYPES[dname], graph)
                    tm = timeit(step, device, max_iters, budget_s)
                    row.update(ms_stats(tm), steps=tm["n"], tokens_per_s=B * T / tm["median"],
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
                          f"{row['tokens_per_s'] / 1e6:8.2f} Mtok/s {fmt_mb(row['peak_bytes'])}"
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
        model = bench_models.make_model(name, hidden, R, device).train()
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
