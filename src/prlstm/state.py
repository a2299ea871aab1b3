"""The layer's two states: :class:`PRState` (final states) and :class:`StreamState`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from prlstm.ops.common import State
from prlstm.ops.stacks import Carry, Entry, RaggedStack

__all__ = ["PRState", "StreamState"]


class PRState(NamedTuple):
    """Final states, shaped like ``nn.LSTM``'s: ``(num_layers, B, H)`` each.

    ``c`` is ``None`` for the memory-less ``rnn`` and ``gru`` cells.
    """

    h: Tensor
    c: Tensor | None


@dataclass(frozen=True)
class StreamState:
    """The state of a token-by-token stream: one binary-counter stack per layer.

    Immutable: ``step`` returns a new one, so an old state can be stepped again (e.g. to
    branch a beam). ``t`` is the number of tokens consumed so far. Rows may sit at different
    positions (a *ragged* stream, from ``prefill(x, lengths=...)``): then ``positions`` is the
    ``(B,)`` count per row, ``t`` the largest of them, and ``stacks`` hold
    :class:`~prlstm.ops.stacks.RaggedStack` slots; ``positions`` is ``None`` when every
    row has consumed ``t`` tokens. :attr:`lengths` gives the per-row counts in both cases.
    """

    layer_id: int
    batch_size: int
    t: int
    stacks: tuple[Carry, ...]
    positions: Tensor | None = None

    @property
    def ragged(self) -> bool:
        """Whether rows sit at different positions."""
        return self.positions is not None

    @property
    def lengths(self) -> Tensor:
        """Tokens consumed per row, ``(B,)`` int64 (on the state's device)."""
        if self.positions is not None:
            return self.positions
        device = _stack_device(self.stacks)
        return torch.full((self.batch_size,), self.t, dtype=torch.long, device=device)

    def select(self, index: Tensor | list[int] | list[bool]) -> StreamState:
        """The stream of rows ``index`` (any order, repeats allowed): e.g. reorder beams.

        ``index`` holds integer row numbers, or is a bool mask of ``batch_size`` entries
        (the rows where it is true, in order); floats and masks of another length are refused.
        """
        index = _row_index(index, self.batch_size, _stack_device(self.stacks))
        if int(index.min()) < 0 or int(index.max()) >= self.batch_size:
            raise ValueError(f"index must hold rows in [0, {self.batch_size}), got values in "
                             f"[{int(index.min())}, {int(index.max())}]")

        def pick(st: State) -> State:
            return tuple(s.index_select(0, index) for s in st)

        if self.positions is not None:
            positions = self.positions.index_select(0, index)
            stacks: tuple[Carry, ...] = tuple(
                RaggedStack(pick(r.roots), pick(r.folds), positions)
                for r in self.stacks if isinstance(r, RaggedStack))
            return StreamState(self.layer_id, index.numel(), self.t, stacks, positions)
        stacks = tuple(tuple(Entry(e.size, pick(e.root), pick(e.fold)) for e in st)
                       for st in self.stacks if not isinstance(st, RaggedStack))
        return StreamState(self.layer_id, index.numel(), self.t, stacks)


def _row_index(index: object, batch_size: int, device: torch.device | None) -> Tensor:
    """``index`` as a non-empty 1-D int64 tensor of row numbers (a bool mask of
    ``batch_size`` entries becomes the numbers of its true rows)."""
    try:
        rows = torch.as_tensor(index)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"index must be integer row numbers or a bool mask, got "
                         f"{type(index).__name__} ({err})") from None
    if rows.dim() != 1 or rows.numel() == 0:
        raise ValueError(f"index must be a non-empty 1-D list of rows, got shape "
                         f"{tuple(rows.shape)}")
    if rows.dtype == torch.bool:
        if rows.numel() != batch_size:
            raise ValueError(f"a bool mask index must have batch_size={batch_size} entries, got "
                             f"{rows.numel()}")
        rows = rows.nonzero().squeeze(1)
        if rows.numel() == 0:
            raise ValueError("the bool mask index selects no row; expected at least one true")
    elif rows.is_floating_point() or rows.is_complex():
        raise ValueError(f"index must hold integer row numbers or a bool mask, got dtype "
                         f"{rows.dtype}")
    return rows.to(dtype=torch.long, device=device)


def _stack_device(stacks: tuple[Carry, ...]) -> torch.device | None:
    for st in stacks:
        if isinstance(st, RaggedStack):
            return st.roots[0].device
        if st:
            return st[0].root[0].device
    return None
