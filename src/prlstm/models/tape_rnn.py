"""Tape-RNN baseline (docs/benchmark.md#tape-rnn), one tape.

The reference calls it ``TapeInputLengthJumpCore``.

State: a circular tape of ``memory_size`` (M) cells of width ``memory_cell_size`` (index 0 is
the head), starting at zero, plus the controller's hidden state. Each step:

1. the ReLU vanilla-RNN controller reads ``[x_t, cell 0]`` and produces ``h_t``;
2. write value ``w = MLP(h_t)`` (ReLU hidden layers, linear output of width c);
3. action probabilities ``softmax(Linear(h_t))`` over (stay, left, right, jump-left,
   jump-right);
4. write first (cell 0 := w), then move: the new tape is ``Σ_a p_a · shift_a(tape)`` with
   ``new[i] = old[(i + δ_a) mod M]`` and ``δ = (0, +1, -1, +T, -T)``, T the input length;
5. the step's output is ``h_t``, read out as ``Linear(relu(h_t))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear
from prlstm.models.rnn import Controller

ACTIONS = ("stay", "left", "right", "jump_left", "jump_right")


def action_offsets(input_length: int) -> tuple[int, ...]:
    """δ of each action in :data:`ACTIONS` order: ``(0, +1, -1, +T, -T)``."""
    return (0, 1, -1, input_length, -input_length)


def move_index(memory_size: int, input_length: int, device: torch.device | None = None
               ) -> Tensor:
    """``(5, M)`` gather index: row a holds ``(i + δ_a) mod M`` for ``i = 0 … M-1``."""
    i = torch.arange(memory_size, device=device)
    deltas = torch.tensor(action_offsets(input_length), device=device)
    return (i[None, :] + deltas[:, None]) % memory_size


def shift_matrices(memory_size: int, input_length: int, device: torch.device | None = None,
                   dtype: torch.dtype | None = None) -> Tensor:
    """``(5, M, M)`` 0/1 matrices ``P_a`` with ``(P_a @ tape)[i] = tape[(i + δ_a) mod M]``."""
    index = move_index(memory_size, input_length, device)  # (5, M)
    eye = torch.eye(memory_size, device=device, dtype=dtype)  # (M, M)
    return eye[index]  # row i of P_a is the unit vector at (i + δ_a) mod M


def tape_update(tape: Tensor, write: Tensor, actions: Tensor, input_length: int,
                shifts: Tensor | None = None) -> Tensor:
    """Write-then-move update of the tape.

    Args:
        tape: ``(B, M, c)``.
        write: ``(B, c)``, replaces cell 0 before moving.
        actions: ``(B, 5)`` probabilities in :data:`ACTIONS` order.
        input_length: T, the jump distance.
        shifts: optional precomputed :func:`shift_matrices` ``(5, M, M)``.

    Returns:
        ``(B, M, c)``: ``new[i] = Σ_a p_a · written[(i + δ_a) mod M]``.
    """
    B, M, _ = tape.shape
    if shifts is None:
        shifts = shift_matrices(M, input_length, tape.device, tape.dtype)
    written = torch.cat([write[:, None], tape[:, 1:]], dim=1)  # (B, M, c)
    # one soft move matrix per sequence, Σ_a p_a P_a: dense matmuls, no scatter in backward
    mix = (actions @ shifts.reshape(len(ACTIONS), M * M)).view(B, M, M)  # (B, M, M)
    return torch.bmm(mix, written)


class TapeRNN(nn.Module):
    """Tape-RNN core with input-length jumps and the benchmark readout.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        hidden_size: controller size H.
        memory_cell_size: width c of a tape cell.
        memory_size: number of cells M (the benchmark's example uses 40).
        mlp_layers_size: hidden widths of the write MLP.

    ``forward(x (B, S, V'), input_length=T) -> logits (B, S, C)``. ``input_length`` is the
    original input length T given by the protocol (the jump distance); it defaults to S.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int = 256,
        memory_cell_size: int = 8,
        memory_size: int = 40,
        mlp_layers_size: Sequence[int] = (64, 64),
    ) -> None:
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.memory_cell_size, self.memory_size = memory_cell_size, memory_size
        self.mlp_layers_size = tuple(mlp_layers_size)
        self.controller = Controller(input_size, memory_cell_size, hidden_size)
        widths = (hidden_size, *self.mlp_layers_size, memory_cell_size)
        self.write_mlp = nn.ModuleList(
            haiku_linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.action = haiku_linear(hidden_size, len(ACTIONS))
        self.readout = haiku_linear(hidden_size, output_size)

    def write_value(self, h: Tensor) -> Tensor:
        """``MLP(h) (B, H) -> (B, c)``: ReLU after every layer but the last."""
        for i, layer in enumerate(self.write_mlp):
            h = layer(h)
            if i < len(self.write_mlp) - 1:
                h = torch.relu(h)
        return h

    def hidden(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Controller outputs ``(B, S, H)`` for inputs ``x (B, S, V')``."""
        B, S, _ = x.shape
        T = S if input_length is None else int(input_length)
        xps = self.controller.project_inputs(x).unbind(1)  # S x (B, H)
        w_rhT = self.controller.recurrent_weight()  # (c + H, H)
        shifts = shift_matrices(self.memory_size, T, x.device, x.dtype)  # (5, M, M)
        h = x.new_zeros(B, self.hidden_size)
        tape = x.new_zeros(B, self.memory_size, self.memory_cell_size)  # (B, M, c)
        outs = []
        for xp_t in xps:
            h = self.controller.step(xp_t, tape[:, 0], h, w_rhT)  # (B, H)
            actions = torch.softmax(self.action(h), dim=-1)  # (B, 5)
            tape = tape_update(tape, self.write_value(h), actions, T, shifts)
            outs.append(h)
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(relu(h_t))`` at every step."""
        return self.readout(torch.relu(self.hidden(x, input_length)))
