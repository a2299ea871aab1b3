"""E5 (docs/experiments.md#e5-inference-time-and-memory): forward time and peak memory vs
sequence length, per model and dtype."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from speedbench import models as bench_models
from speedbench.timing import (
    CUTOFF_S,
    DTYPES,
    autocast,
    fmt_mb,
    is_oom,
    ms_stats,
    one_hot_batch,
    peak_bytes,
    timeit,
)


def inference_curves(models: list[str], dtypes: list[str], lengths: list[int], batch: int,
                     hidden: int, R: int, device: torch.device, max_iters: int,
                     budget_s: float) -> list[dict[str, Any]]:
    """E5: forward time and peak memory vs length; prints ratios vs nn.LSTM."""
    rows: list[dict[str, Any]] = []
    for dname in dtypes:
        dtype = DTYPES[dname]
        lstm_ms: dict[int, float] = {}
        for name in sorted(models, key=lambda n: n != "lstm"):  # nn.LSTM first, for ratios
            model = bench_models.make_model(name, hidden, R, device).eval()
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
                    row.update(ms_stats(tm), passes=tm["n"], tokens_per_s=batch * T / tm["mean"],
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
                          f"{fmt_mb(row['peak_bytes'])}  "
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
