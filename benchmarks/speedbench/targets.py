"""The speed targets, with PASS/FAIL: on a GPU (from an E5 + training run) and on a CPU."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from prlstm import PRLSTM
from speedbench.models import D_IN
from speedbench.timing import one_hot_batch, saved_bytes, timeit
from speedbench.training import linearity

# GPU targets (H = 256, R = 1, H200) and CPU targets (H = 256, R = 1, B32 T512).
GPU_TARGETS = {"forward_B1024_T2048_ms": 22.0, "bf16_tokens_per_s": 100e6,
               "train_B16_T4096_speedup_vs_lstm": 10.0, "train_B128_T40_ms": 1.2}
CPU_TARGETS = {"forward_speed_vs_lstm": 0.12, "train_speed_vs_lstm": 0.12,
               "step_time_vs_lstmcell": 8.0}


def gpu_targets(e5: list[dict], train: list[dict], mem: list[dict]) -> dict[str, Any]:
    """The GPU targets for the best PR-LSTM backend (triton when present)."""
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
    print(f"\nGPU targets ({res['model']}):")
    for k, v in res.items():
        if isinstance(v, bool):
            print(f"  {'PASS' if v else 'FAIL'}  {k}")
        elif isinstance(v, float):
            print(f"        {k} = {v:.4g}")
        elif isinstance(v, str) and k != "model":
            print(f"        {k} = {v}")


# ----------------------------------------------------------------------------- CPU targets
def cpu_targets(device: torch.device, hidden: int, R: int, batch: int, T: int,
                budget_s: float) -> dict[str, Any]:
    """The CPU targets: levelwise vs nn.LSTM speed, streaming step, saved memory."""
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
    print(f"CPU targets (H={hidden}, R={R}, B={batch}, T={T}, "
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
