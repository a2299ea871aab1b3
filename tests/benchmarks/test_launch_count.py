"""``benchmarks/launch_count.py``: launch counts of the Triton scan (CPU, Triton interpreter)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

import pytest  # noqa: E402

from prlstm.ops import triton as tri  # noqa: E402
from tests.helpers import load_script

pytestmark = pytest.mark.skipif(torch.cuda.is_available() or not tri.available(),
                                reason="counts kernels under the Triton CPU interpreter")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "launch_count.py"


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch):
    module = load_script(SCRIPT, "prlstm_bench_launch_count")
    state = {"inside": False}
    module._patch(state, monkeypatch.setattr)
    return module, state


@pytest.mark.slow
def test_forward_is_triton_launches_only(counter) -> None:
    """T = 8, R = 1: 3 up-sweep + 2 down-sweep rounds of 2 stages, plus one first-blocks copy;
    no torch kernel outside Triton. With chunk 4: the two chunk kernels, the top level's round
    (2 stages), the copy and no down-sweep round above the chunks."""
    module, state = counter
    res = module.count(8, 1, 0, state)
    assert res["forward"]["triton_launches"] == {"fwd.stage_fwd": 10, "firsts.launch": 1}
    assert res["forward"]["torch_kernel_total"] == 0
    bwd = res["backward"]["triton_launches"]
    assert bwd["fwd.stage_fwd"] == 10 and bwd["rounds.stage_bwd"] == 10
    assert bwd["rounds.input_grad"] == 5 and bwd["firsts.launch"] == 1  # one per round
    timed = module.count(8, 1, 0, state, host_reps=2)  # stubbed launches are not counted
    assert timed["forward"]["triton_launches"] == res["forward"]["triton_launches"]
    assert timed["forward"]["host_us"] > 0 and timed["backward"]["host_us"] > 0
    res = module.count(8, 1, 4, state)
    assert res["forward"]["triton_launches"] == {"chunk.launch": 2, "fwd.stage_fwd": 2,
                                                 "firsts.launch": 1}
