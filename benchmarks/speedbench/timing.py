"""Measuring: wall time per call, peak memory, bytes saved for backward; inputs; autocast."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from speedbench.models import D_IN

CUTOFF_S = 0.5  # a curve stops past 500 ms per pass (E5)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


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


def ms_stats(tm: dict[str, float]) -> dict[str, float]:
    """``ms`` (mean, E5), ``ms_median`` and ``ms_min`` from :func:`timeit`'s seconds."""
    return {"ms": tm["mean"] * 1e3, "ms_median": tm["median"] * 1e3, "ms_min": tm["min"] * 1e3}


def fmt_mb(b: int | None) -> str:
    return "   n/a   " if b is None else f"{b / 2**20:9.1f} MiB"
