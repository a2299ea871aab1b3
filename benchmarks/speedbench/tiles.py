"""Triton launch candidates (GPU): per-round tiles, chunk sizes, chunk-kernel tiles."""

from __future__ import annotations

import os
from typing import Any

import torch

from speedbench.e5 import inference_curves
from speedbench.training import training


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
