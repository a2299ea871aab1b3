"""from_reference_weights: the reference parameter layout, checked against an independent
float64 numpy implementation of the reference model (associative-scan recursion)."""

import numpy as np
import pytest
import torch

import prlstm
from tests.helpers import associative_scan


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_reference(w, xs, cell):
    """Per-position numpy model in the reference layout (in, out); returns h per position."""
    H = w["merge.w"].shape[0] // 2
    R = sum(1 for k in w if k.startswith("refine.") and k.endswith(".w"))

    def leaf(x):
        z = x @ w["leaf.w"] + w["leaf.b"]
        if cell == "rnn":
            return (z, None)
        c = _sig(z[:H]) * np.tanh(z[H : 2 * H])
        return (_sig(z[2 * H :]) * np.tanh(c), c)

    def combine(a, b):
        z = np.concatenate([a[0], b[0]]) @ w["merge.w"] + w["merge.b"]
        if cell == "rnn":
            h = np.maximum(z, 0)
            for r in range(R):
                h = np.maximum(h @ w[f"refine.{r}.w"] + w[f"refine.{r}.b"], 0)
            return (h, None)
        i, g, o, fl, fr = np.split(z, 5)
        c = _sig(i) * np.tanh(g) + _sig(fl) * a[1] + _sig(fr) * b[1]
        h = _sig(o) * np.tanh(c)
        for r in range(R):
            i, g, o, f = np.split(h @ w[f"refine.{r}.w"] + w[f"refine.{r}.b"], 4)
            c = _sig(i) * np.tanh(g) + _sig(f) * c
            h = _sig(o) * np.tanh(c)
        return (h, c)

    return np.stack([s[0] for s in associative_scan(combine, [leaf(x) for x in xs])])


def _weights(cell, D, H, R, rng):
    g = {"lstm": (3, 5, 4), "rnn": (1, 1, 1)}[cell]
    w = {"leaf.w": rng.normal(size=(D, g[0] * H)), "leaf.b": rng.normal(size=g[0] * H),
         "merge.w": rng.normal(size=(2 * H, g[1] * H)) / np.sqrt(2 * H),
         "merge.b": rng.normal(size=g[1] * H)}
    for r in range(R):
        w[f"refine.{r}.w"] = rng.normal(size=(H, g[2] * H)) / np.sqrt(H)
        w[f"refine.{r}.b"] = rng.normal(size=g[2] * H)
    return w


@pytest.mark.parametrize("cell,R", [("lstm", 0), ("lstm", 1), ("lstm", 2), ("rnn", 1)])
def test_matches_numpy_reference_float64(cell, R):
    rng = np.random.default_rng(0)
    D, H, n = 3, 5, 23
    w = _weights(cell, D, H, R, rng)
    layer = prlstm.from_reference_weights(w, cell=cell)
    assert layer.refinements == R and layer.hidden_size == H and layer.input_size == D
    assert next(layer.parameters()).dtype == torch.float64
    xs = rng.normal(size=(n, D))
    ours = layer(torch.from_numpy(xs)[None])[0][0].detach().numpy()
    np.testing.assert_allclose(ours, _numpy_reference(w, xs, cell), atol=1e-6, rtol=0)


def test_torch_tensors_and_float32_stay_float32():
    w = {k: torch.from_numpy(v).float() for k, v in
         _weights("lstm", 2, 3, 1, np.random.default_rng(1)).items()}
    layer = prlstm.from_reference_weights(w)
    assert next(layer.parameters()).dtype == torch.float32


def test_loader_errors():
    w = _weights("lstm", 2, 3, 1, np.random.default_rng(1))
    with pytest.raises(ValueError, match="missing 'merge.b'"):
        prlstm.from_reference_weights({k: v for k, v in w.items() if k != "merge.b"})
    bad = dict(w)
    bad["merge.w"] = bad["merge.w"][:, :-1]
    with pytest.raises(ValueError, match=r"weights\['merge.w'\] must have shape \(6, 15\)"):
        prlstm.from_reference_weights(bad)
    with pytest.raises(ValueError, match="unexpected keys"):
        prlstm.from_reference_weights({**w, "extra.w": w["leaf.w"]})
    with pytest.raises(ValueError, match="numbered 0..R-1"):
        prlstm.from_reference_weights({**w, "refine.2.w": w["refine.0.w"],
                                       "refine.2.b": w["refine.0.b"]})
    with pytest.raises(ValueError, match="cell must be 'lstm' or 'rnn'"):
        prlstm.from_reference_weights(w, cell="gru")
