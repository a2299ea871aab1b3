"""Long inputs: T = 65,536 through forward, finite and equal to final_state at the end."""

from __future__ import annotations

import pytest
import torch

from tests.properties.strategies import close, make_layer, randn

T_LONG = 65_536


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_long_sequence_is_finite_and_matches_final_state(dtype) -> None:
    layer = make_layer({"cell": "lstm", "refinements": 1, "backend": "levelwise"}, 0, dtype,
                       input_size=2, hidden_size=4)
    x = randn(1, 1, T_LONG, 2, dtype=dtype, scale=3.0)  # (B, T, D)
    with torch.no_grad():
        out, state = layer(x)  # (1, T, 4)
        final = layer.final_state(x)
    assert out.shape == (1, T_LONG, 4) and torch.isfinite(out).all()
    assert torch.isfinite(state.c).all() and torch.isfinite(final.c).all()
    close(state.h[-1], out[:, -1], dtype, "forward state vs last output")
    close(final.h[-1], out[:, -1], dtype, "final_state h vs last output")
    close(final.c, state.c, dtype, "final_state c vs forward c")
