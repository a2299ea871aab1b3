"""Leaf maps, merge cells and refinements.

Defined in docs/model.md#leaf-map, docs/model.md#merge-cell and docs/model.md#refinements.

A *state* is a tuple of tensors with identical shapes ``(..., H)``: ``(h, c)`` for the
``lstm`` cell and ``(h,)`` for ``rnn`` and ``gru``. All maps act on any leading shape, so
backends can combine whole batches of (left, right) pairs in one call.

Linear weights use PyTorch's ``(out_features, in_features)`` layout with gates stacked in
the order of docs/model.md: leaf ``[i|g|o]``, merge ``[i|g|o|f_L|f_R]``, refinement ``[i|g|o|f]``.

The merge variants of docs/model.md#merge-variants (``merge=``; leaf map, refinements and
schedule unchanged):
``gated`` is the model's merge above; ``sum`` adds the children's states (no parameters);
``concat`` is one linear map of the concatenated children, no gates and no nonlinearity —
``[h; c] = W [h_L; h_R; c_L; c_R] + b`` (lstm, ``W`` (2H, 4H)) or ``h = W [h_L; h_R] + b`` (rnn).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.config import CELLS, MERGES, check_cell
from prlstm.epilogue import lstm_epilogue

__all__ = ["CELLS", "MERGES", "CombineCell", "State"]

State = tuple[Tensor, ...]
# Gate blocks per linear map (leaf, merge, refinement); the gru merge is an nn.GRUCell.
_GATES = {"lstm": (3, 5, 4), "rnn": (1, 1, 1), "gru": (1, 0, 0)}


class CombineCell(nn.Module):
    """One PR layer's learned maps: the leaf map and one *combine* (merge + R refinements).

    Args:
        input_size: D, features per token.
        hidden_size: H.
        cell: ``"lstm"``, ``"rnn"`` or ``"gru"``.
        refinements: R >= 0 single-input cells after every merge (must be 0 for gru).
        bias: whether the linear maps have biases.
        merge: ``"gated"``, ``"sum"`` or ``"concat"`` (docs/model.md#merge-variants;
            gru: gated only).
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
        merge: str = "gated",
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        self.cell, self.refinements = cell, refinements
        check_cell(cell, merge, refinements)  # prlstm.config: the rules, written once
        self.merge_kind = merge
        H = hidden_size
        leaf_g, merge_g, refine_g = _GATES[cell]
        self.leaf = nn.Linear(input_size, leaf_g * H, bias=bias, **kw)
        self.merge: nn.Module | None
        if cell == "gru":
            self.merge = nn.GRUCell(H, H, bias=bias, **kw)
        elif merge == "sum":
            self.merge = None  # no parameters
        elif merge == "concat":
            width = 4 * H if cell == "lstm" else 2 * H  # [h_L; h_R; c_L; c_R] or [h_L; h_R]
            self.merge = nn.Linear(width, width // 2, bias=bias, **kw)
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
            return lstm_epilogue(z, (), self.hidden_size)
        return (z,)

    def combine(self, left: State, right: State) -> State:
        """``left ⊕ right``: the merge followed by the R refinements, on ``(..., H)`` states."""
        H = self.hidden_size
        if self.cell == "gru":  # input = left child's h, previous state = right child's h
            hl, hr = left[0], right[0]
            lead = hl.shape[:-1]
            return (self.merge(hl.reshape(-1, H), hr.reshape(-1, H)).reshape(*lead, H),)
        if self.merge_kind != "gated":
            return self._refine(self._plain_merge(left, right))
        z = self.merge(torch.cat((left[0], right[0]), dim=-1))  # (..., 5H) lstm, (..., H) rnn
        if self.cell == "lstm":
            return self._refine(lstm_epilogue(z, (left[1], right[1]), H))
        return self._refine((F.relu(z),))

    def _plain_merge(self, left: State, right: State) -> State:
        """The ungated merges (``sum``, ``concat``), before refinements."""
        if self.merge_kind == "sum":
            return tuple(a + b for a, b in zip(left, right, strict=True))
        z = self.merge(torch.cat((*left[:1], *right[:1], *left[1:], *right[1:]), dim=-1))
        return tuple(z.split(self.hidden_size, dim=-1))  # (h, c) or (h,), (..., H) each

    def _refine(self, state: State) -> State:
        """The R refinement cells applied to a merged state."""
        if self.cell == "lstm":
            h, c = state
            for lin in self.refine:
                h, c = lstm_epilogue(lin(h), (c,), self.hidden_size)
            return h, c
        (h,) = state
        for lin in self.refine:
            h = F.relu(lin(h))
        return (h,)
