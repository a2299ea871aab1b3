"""Hypothesis strategies for the layer's property tests.

Layer constructor keyword arguments are drawn axis by axis from :data:`LAYER_AXES`; a new
constructor option becomes part of every property with one line there (e.g.
``"merge": st.sampled_from(MERGES)``). Inputs are not drawn element by element (slow and
pointless for floats): a drawn seed and shape feed ``torch.randn``.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import settings
from hypothesis import strategies as st

from prlstm import PRLSTM

# One strategy per constructor argument of PRLSTM that changes what the layer computes.
LAYER_AXES: dict[str, st.SearchStrategy[Any]] = {
    "cell": st.sampled_from(["lstm", "rnn", "gru"]),
    "refinements": st.integers(0, 2),
    "num_layers": st.integers(1, 2),
    "schedule": st.sampled_from(["tree", "tree", "tree", "sequential"]),
    "bias": st.booleans(),
}

# Tolerances per dtype, for two evaluations of the same layer (same weights, same dtype): the
# backends run the same combines, batched differently, so they differ by rounding only.
# Largest differences seen (levelwise/chunked vs reference, H=4, T <= 1025, lstm/rnn/gru,
# relative to 1 + |ref|): float32 1.5e-7, bfloat16 7.2e-3 (~2 bf16 ulps); the bounds below
# leave a margin of ~60x (float32) and ~3x (bf16).
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"atol": 1e-10, "rtol": 1e-10},
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
    torch.bfloat16: {"atol": 2e-2, "rtol": 2e-2},
}

DTYPES = st.sampled_from([torch.float64, torch.float64, torch.float32, torch.bfloat16])
# Mostly short sequences, sometimes a length around a power of two, rarely a long one.
LENGTHS = st.one_of(st.integers(1, 300), st.integers(1, 300),
                    st.sampled_from([63, 64, 65, 127, 128, 129, 255, 256, 257]),
                    st.sampled_from([511, 1024, 1025]))
SEEDS = st.integers(0, 2**31 - 1)


def examples(n: int) -> settings:
    """``n`` examples under the ``ci`` profile, scaled by the loaded profile (see conftest)."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 100))


@st.composite
def layer_kwargs(draw: st.DrawFn, **fixed: Any) -> dict[str, Any]:
    """Constructor kwargs for a valid PRLSTM: one draw per axis, ``fixed`` ones left alone."""
    kw = {name: fixed[name] if name in fixed else draw(strategy)
          for name, strategy in LAYER_AXES.items()}
    kw.update({k: v for k, v in fixed.items() if k not in kw})
    if kw["cell"] == "gru":
        kw["refinements"] = 0  # the gru cell has no refinement cell
    return kw


def make_layer(kwargs: dict[str, Any], seed: int, dtype: torch.dtype = torch.float64,
               input_size: int = 3, hidden_size: int = 4) -> PRLSTM:
    """A freshly initialised layer (weights from ``seed``)."""
    torch.manual_seed(seed)
    return PRLSTM(input_size, hidden_size, dtype=dtype, **kwargs)


def randn(seed: int, *shape: int, dtype: torch.dtype = torch.float64,
          scale: float = 1.0) -> torch.Tensor:
    """Reproducible standard normal values of ``shape`` (drawn in float64, then cast)."""
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)


def close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, msg: str = "") -> None:
    """``assert_close`` with the tolerance of ``dtype`` (see :data:`TOLERANCES`)."""
    torch.testing.assert_close(actual.double(), expected.double(), **TOLERANCES[dtype],
                               msg=lambda m: f"{msg}: {m}" if msg else m)
