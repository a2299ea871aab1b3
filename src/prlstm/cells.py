"""Leaf maps, merge cells and refinements (model.md §1–§3).

A *state* is a tuple of tensors with identical shapes ``(..., H)``: ``(h, c)`` for the
``lstm`` cell and ``(h,)`` for ``rnn`` and ``gru``. All maps act on any leading shape, so
backends can combine whole batches of (left, right) pairs in one call.

Linear weights use PyTorch's ``(out_features, in_features)`` layout with gates stacked in
model.md's order: leaf ``[i|g|o]``, merge ``[i|g|o|f_L|f_R]``, refinement ``[i|g|o|f]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = tuple[Tensor, ...]

CELLS = ("lstm", "rnn", "gru")
# Gate blocks per linear map (leaf, merge, refinement); the gru merge is an nn.GRUCell.
_GATES = {"lstm": (3, 5, 4), "rnn": (1, 1, 1), "gru": (1, 0, 0)}


def _lstm_out(z: Tensor, c_terms: tuple[Tensor, ...], hidden: int) -> State:
    """LSTM epilogue on pre-activations ``z = [i|g|o|f_1|...|f_k]`` ``(..., (3+k)H)``.

    ``c = σ(i)·tanh(g) + Σ_j σ(f_j)·c_j`` and ``h = σ(o)·tanh(c)``; one sigmoid pass over
    the whole of ``z`` is cheaper than one per gate slice.
    """
    H = hidden
    if torch.is_grad_enabled() and (z.requires_grad or any(c.requires_grad for c in c_terms)):
        s = torch.sigmoid(z)
        c = s[..., :H] * torch.tanh(z[..., H : 2 * H])
        for j, c_j in enumerate(c_terms):
            c = torch.addcmul(c, s[..., (3 + j) * H : (4 + j) * H], c_j)
        return s[..., 2 * H : 3 * H] * torch.tanh(c), c
    # Inference: the same arithmetic in place on fresh buffers (fewer allocations and
    # passes), with tanh(x) = 2·σ(2x) − 1 because σ is several times cheaper than tanh on CPU.
    z[..., H : 2 * H].mul_(2)
    s = z.sigmoid_()  # z is the caller's fresh pre-activation buffer
    c = s[..., H : 2 * H].mul(2).sub_(1).mul_(s[..., :H])  # σ(i)·tanh(g)
    for j, c_j in enumerate(c_terms):
        c.addcmul_(s[..., (3 + j) * H : (4 + j) * H], c_j)
    h = torch.mul(c, 2).sigmoid_().mul_(2).sub_(1).mul_(s[..., 2 * H : 3 * H])  # σ(o)·tanh(c)
    return h, c


class CombineCell(nn.Module):
    """One PR layer's learned maps: the leaf map and one *combine* (merge + R refinements).

    Args:
        input_size: D, features per token.
        hidden_size: H.
        cell: ``"lstm"``, ``"rnn"`` or ``"gru"``.
        refinements: R >= 0 single-input cells after every merge (must be 0 for gru).
        bias: whether the linear maps have biases.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        cell: str = "lstm",
        refinements: int = 1,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell, self.refinements = cell, refinements
        if cell not in CELLS:  # validated by the layer; kept as a guard for direct use
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        H = hidden_size
        leaf_g, merge_g, refine_g = _GATES[cell]
        self.leaf = nn.Linear(input_size, leaf_g * H, bias=bias, **kw)
        if cell == "gru":
            self.merge: nn.Module = nn.GRUCell(H, H, bias=bias, **kw)
        else:
            self.merge = nn.Linear(2 * H, merge_g * H, bias=bias, **kw)
        self.refine = nn.ModuleList(
            nn.Linear(H, refine_g * H, bias=bias, **kw) for _ in range(refinements)
        )

    @property
    def state_size(self) -> int:
        """Number of tensors in a state: 2 for lstm (h, c), 1 otherwise."""
        return 2 if self.cell == "lstm" else 1

    def leaf_state(self, x: Tensor) -> State:
        """Map tokens ``x (..., D)`` to leaf states ``(..., H)`` independently."""
        z = self.leaf(x)
        if self.cell == "lstm":
            return _lstm_out(z, (), self.hidden_size)
        return (z,)

    def combine(self, left: State, right: State) -> State:
        """``left ⊕ right``: the merge followed by the R refinements, on ``(..., H)`` states."""
        H = self.hidden_size
        if self.cell == "lstm":
            z = self.merge(torch.cat((left[0], right[0]), dim=-1))  # (..., 5H)
            h, c = _lstm_out(z, (left[1], right[1]), H)
            for lin in self.refine:
                h, c = _lstm_out(lin(h), (c,), H)
            return h, c
        if self.cell == "rnn":
            h = F.relu(self.merge(torch.cat((left[0], right[0]), dim=-1)))
            for lin in self.refine:
                h = F.relu(lin(h))
            return (h,)
        # gru: input = left child's h, previous state = right child's h
        hl, hr = left[0], right[0]
        lead = hl.shape[:-1]
        h = self.merge(hl.reshape(-1, H), hr.reshape(-1, H)).reshape(*lead, H)
        return (h,)
