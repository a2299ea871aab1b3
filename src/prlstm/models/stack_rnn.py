"""Stack-RNN baseline (docs/benchmark.md#stack-rnn; Joulin and Mikolov, 2015), one stack.

State: a stack of ``stack_size`` cells of width ``stack_cell_size`` (index 0 is the top),
starting at zero, plus the controller's hidden state. Each step:

1. the ReLU vanilla-RNN controller reads ``[x_t, top cell]`` and produces ``h_t``;
2. push value ``p = Linear(h_t)`` (no nonlinearity) and action probabilities
   ``a = softmax(Linear(h_t))`` in the order (push, pop, no-op);
3. the stack is updated softly (:func:`stack_update`);
4. the step's output is ``h_t``, read out as ``Linear(relu(h_t))``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear
from prlstm.models.rnn import Controller

PUSH, POP, NO_OP = 0, 1, 2


def stack_update(stack: Tensor, actions: Tensor, push_value: Tensor) -> Tensor:
    """Soft stack update.

    Args:
        stack: ``(B, N, c)``, index 0 the top.
        actions: ``(B, 3)`` probabilities of (push, pop, no-op).
        push_value: ``(B, c)``.

    Returns:
        ``(B, N, c)`` where the top becomes ``a_push·p + a_pop·S[1] + a_noop·S[0]`` and cell
        ``i >= 1`` becomes ``a_push·S[i-1] + a_pop·S[i+1] + a_noop·S[i]``, with ``S[N] = 0``.
    """
    pushed = torch.cat([push_value[:, None], stack[:, :-1]], dim=1)  # (B, N, c)
    popped = torch.cat([stack[:, 1:], torch.zeros_like(stack[:, :1])], dim=1)  # (B, N, c)
    a = actions[:, :, None, None]  # (B, 3, 1, 1)
    return a[:, PUSH] * pushed + a[:, POP] * popped + a[:, NO_OP] * stack


class StackRNN(nn.Module):
    """Stack-RNN core with the benchmark readout.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        hidden_size: controller size H.
        stack_cell_size: width c of a stack cell.
        stack_size: number of cells N.

    ``forward(x (B, S, V'), input_length=None) -> logits (B, S, C)``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int = 256,
        stack_cell_size: int = 8,
        stack_size: int = 30,
    ) -> None:
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.stack_cell_size, self.stack_size = stack_cell_size, stack_size
        self.controller = Controller(input_size, stack_cell_size, hidden_size)
        self.push = haiku_linear(hidden_size, stack_cell_size)
        self.action = haiku_linear(hidden_size, 3)
        self.readout = haiku_linear(hidden_size, output_size)

    def hidden(self, x: Tensor) -> Tensor:
        """Controller outputs ``(B, S, H)`` for inputs ``x (B, S, V')``."""
        B = x.shape[0]
        c = self.stack_cell_size
        xps = self.controller.project_inputs(x).unbind(1)  # S x (B, H)
        w_rhT = self.controller.recurrent_weight()  # (c + H, H)
        # push and action heads fused into one matmul: (H, c + 3)
        w_headT = torch.cat([self.push.weight, self.action.weight], dim=0).t()
        b_head = torch.cat([self.push.bias, self.action.bias], dim=0)  # (c + 3,)
        h = x.new_zeros(B, self.hidden_size)
        stack = x.new_zeros(B, self.stack_size, c)  # (B, N, c)
        outs = []
        for xp_t in xps:
            h = self.controller.step(xp_t, stack[:, 0], h, w_rhT)  # (B, H)
            head = torch.addmm(b_head, h, w_headT)  # (B, c + 3)
            actions = torch.softmax(head[:, c:], dim=-1)  # (B, 3)
            stack = stack_update(stack, actions, head[:, :c])
            outs.append(h)
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(relu(h_t))`` at every step."""
        return self.readout(torch.relu(self.hidden(x)))
