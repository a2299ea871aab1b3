"""Load weights in the reference implementation's layout (docs/model.md#reference-weights).

Each linear map is stored ``(in_features, out_features)`` with gates concatenated in the
order ``leaf [i|g|o]``, ``merge [i|g|o|f_L|f_R]``, ``refine [i|g|o|f]``. Keys: ``leaf.w``,
``leaf.b``, ``merge.w``, ``merge.b``, ``refine.{r}.w``, ``refine.{r}.b``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from prlstm.layer import PRLSTM


def _as_tensor(key: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except Exception as err:  # numpy arrays, lists
        raise TypeError(f"weights[{key!r}] must be an array or tensor, got "
                        f"{type(value).__name__}") from err


def from_reference_weights(weights: Mapping[str, Any], cell: str = "lstm") -> PRLSTM:
    """Build a one-layer :class:`PRLSTM` from reference-layout arrays (numpy or torch).

    D, H and R are read from the shapes; the layer's dtype is the weights' dtype (float64
    weights give a float64 layer). The ``gru`` merge's own parameters are not part of the
    format, so only ``lstm`` and ``rnn`` are accepted.
    """
    if cell not in ("lstm", "rnn"):
        raise ValueError(f"cell must be 'lstm' or 'rnn' for reference weights, got {cell!r}")
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping of names to arrays, got "
                        f"{type(weights).__name__}")
    w = {k: _as_tensor(k, v) for k, v in weights.items()}
    for key in ("leaf.w", "leaf.b", "merge.w", "merge.b"):
        if key not in w:
            raise ValueError(f"weights is missing {key!r}; got keys {sorted(w)}")
    refine_ids = sorted(int(m.group(1)) for k in w if (m := re.fullmatch(r"refine\.(\d+)\.w", k)))
    R = len(refine_ids)
    if refine_ids != list(range(R)):
        raise ValueError(f"refine.{{r}}.w keys must be numbered 0..R-1, got {refine_ids}")
    unknown = set(w) - {"leaf.w", "leaf.b", "merge.w", "merge.b"} - {
        f"refine.{r}.{p}" for r in range(R) for p in "wb"}
    if unknown:
        raise ValueError(f"weights has unexpected keys {sorted(unknown)}")
    D, leaf_out = w["leaf.w"].shape
    gates = {"lstm": (3, 5, 4), "rnn": (1, 1, 1)}[cell]
    H = leaf_out // gates[0]
    dtype = w["leaf.w"].dtype
    if not dtype.is_floating_point:
        raise TypeError(f"weights must be floating point, got {dtype}")
    layer = PRLSTM(D, H, cell=cell, refinements=R, dtype=dtype)
    cellmod = layer.layers[0]
    targets = [("leaf", cellmod.leaf, D, gates[0]), ("merge", cellmod.merge, 2 * H, gates[1])]
    targets += [(f"refine.{r}", cellmod.refine[r], H, gates[2]) for r in range(R)]
    with torch.no_grad():
        for name, lin, fan_in, g in targets:
            wt, b = w[f"{name}.w"], w.get(f"{name}.b")
            if tuple(wt.shape) != (fan_in, g * H):
                raise ValueError(f"weights[{name + '.w'!r}] must have shape {(fan_in, g * H)} "
                                 f"for D={D}, H={H}, got {tuple(wt.shape)}")
            if b is None or tuple(b.shape) != (g * H,):
                raise ValueError(f"weights[{name + '.b'!r}] must have shape {(g * H,)}, got "
                                 f"{None if b is None else tuple(b.shape)}")
            lin.weight.copy_(wt.T.to(dtype))
            lin.bias.copy_(b.to(dtype))
    return layer
