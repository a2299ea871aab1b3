"""Plumbing of ``benchmarks/speed.py`` (no timing assertions: speed targets live in the script).

Checks that its models compute what the layer computes (including the Triton chunk-kernel
variant, under the CPU interpreter), that E5 rows carry ratios against nn.LSTM, and that the
GPU target summary picks the fastest PR-LSTM forward and reports every variant.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

import pytest  # noqa: E402

from prlstm.ops import triton as tri  # noqa: E402
from tests.helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    return load_script(SCRIPT, "prlstm_bench_speed")


def test_prnet_rejects_unknown_backend(speed) -> None:
    with pytest.raises(ValueError, match="backend must be one of .* got 'cudnn'"):
        speed.PRNet(16, 1, "cudnn")


@pytest.mark.skipif(not tri.available(), reason="needs triton (CUDA or TRITON_INTERPRET=1)")
def test_chunk_model_matches_the_layer(speed) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    base = speed.PRNet(16, 1, "levelwise").to(device)
    chunked = speed.PRNet(16, 1, "triton-c4").to(device)
    chunked.load_state_dict(base.state_dict())
    assert chunked.chunk == 4
    x = speed.one_hot_batch(2, 11, device)
    with torch.no_grad():
        torch.testing.assert_close(chunked(x), base(x), atol=2e-5, rtol=0)


def test_with_chunk_models(speed) -> None:
    assert speed.with_chunk_models(["pr_lstm:levelwise", "lstm"], 16) == \
        ["pr_lstm:levelwise", "lstm"]
    assert speed.with_chunk_models(["pr_lstm:triton", "lstm"], 16) == \
        ["pr_lstm:triton", "lstm", "pr_lstm:triton-c16"]
    assert speed.with_chunk_models(["pr_lstm:triton"], 0) == ["pr_lstm:triton"]


@pytest.mark.slow
def test_inference_rows_carry_ratios_against_lstm(speed) -> None:
    rows = speed.inference_curves(["pr_lstm:levelwise", "lstm"], ["fp32"], [1, 4], 2, 8, 1,
                                  torch.device("cpu"), 3, 0.01)
    assert [(r["model"], r["T"]) for r in rows] == [
        ("lstm", 1), ("lstm", 4), ("pr_lstm:levelwise", 1), ("pr_lstm:levelwise", 4)]
    for r in rows:
        assert r["ms"] > 0 and r["passes"] == 3 and r["tokens_per_s"] > 0
        assert r["time_vs_lstm"] == pytest.approx(
            r["ms_median"] / next(q["ms_median"] for q in rows
                                  if q["model"] == "lstm" and q["T"] == r["T"]))


def _row(model: str, dtype: str, ms: float, **kv: int) -> dict:
    return {"model": model, "dtype": dtype, "ms": ms, "ms_median": ms,
            "tokens_per_s": 1024 * 2048 / (ms / 1e3), **kv}


def test_gpu_targets_pick_the_fastest_forward(speed) -> None:
    shape = {"batch": 1024, "T": 2048}
    e5 = [_row("lstm", "bf16", 30.0, **shape), _row("pr_lstm:triton", "bf16", 25.0, **shape),
          _row("pr_lstm:triton-c16", "bf16", 20.0, **shape),
          _row("pr_lstm:levelwise", "bf16", 10.0, **shape)]  # not a triton variant: ignored
    train = [{**_row("pr_lstm:triton", "bf16", 1.5, batch=128, T=40)},
             {**_row("pr_lstm:triton", "bf16", 50.0, batch=16, T=4096),
              "speedup_vs_lstm": 12.0}]
    mem = [{"model": "pr_lstm:triton", "T": t, "peak_bytes": 100 * t} for t in (512, 1024, 2048)]
    res = speed.gpu_targets(e5, train, mem)
    assert res["model"] == "pr_lstm:triton"
    assert res["forward_model_bf16"] == "pr_lstm:triton-c16"
    assert res["forward_B1024_T2048_bf16_ms"] == 20.0 and res["forward_le_22ms"]
    assert res["forward_B1024_T2048_bf16_ms[pr_lstm:triton]"] == 25.0
    assert res["forward_faster_than_lstm_bf16"] and res["tokens_ge_100M"]
    assert res["train_B16_T4096_bf16_ge_10x"] and not res["train_B128_T40_bf16_le_1.2ms"]
    assert res["train_memory_linear"]


class _Broken(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("kernel exploded")


@pytest.mark.slow
def test_a_failing_triton_model_is_reported_not_fatal(speed, monkeypatch) -> None:
    real = speed.make_model
    monkeypatch.setattr(speed.bench_models, "make_model",  # the module E5 and training call
                        lambda name, *a: _Broken() if "triton" in name
                        or name == "transformer" else real(name, *a))
    cpu = torch.device("cpu")
    rows = speed.inference_curves(["lstm", "pr_lstm:triton"], ["fp32"], [2, 4], 2, 8, 1, cpu,
                                  3, 0.01)
    bad = [r for r in rows if r["model"] == "pr_lstm:triton"]
    assert len(bad) == 1 and bad[0]["ms"] is None and "kernel exploded" in bad[0]["error"]
    rows = speed.training(["pr_lstm:triton"], ["fp32"], [(2, 3)], 8, 1, cpu, 3, 0.01)
    assert rows[0]["ms"] is None and "kernel exploded" in rows[0]["error"]
    with pytest.raises(RuntimeError, match="kernel exploded"):  # other models still raise
        speed.inference_curves(["transformer"], ["fp32"], [2], 2, 8, 1, cpu, 3, 0.01)
