"""PR-LSTM family cores for the benchmark: ``pr_lstm``, ``pr_rnn``, ``pr_gru``.

Core = one :class:`prlstm.layer.PRLSTM` layer over the one-hot inputs, then the readout of
docs/model.md#readout, ``logits_t = W_out relu(h_t) + b_out``, at every position.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear


class PRCore(nn.Module):
    """A PR layer plus the ``Linear(relu(h_t))`` readout.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        cell: ``"lstm"``, ``"rnn"`` or ``"gru"``.
        hidden_size: H.
        **options: the layer's other keyword arguments (``refinements``, ``schedule``,
            ``backend``, ``merge``; :class:`prlstm.config.PRLSTMConfig` checks them).

    ``forward(x (B, S, V'), input_length=None) -> logits (B, S, C)``.
    """

    def __init__(self, input_size: int, output_size: int, cell: str = "lstm",
                 hidden_size: int = 256, **options: Any) -> None:
        super().__init__()
        from prlstm.layer import PRLSTM  # lazy: the other models do not need the layer

        self.input_size, self.output_size = input_size, output_size
        self.pr = PRLSTM(input_size, hidden_size, cell=cell, batch_first=True, **options)
        self.readout = haiku_linear(hidden_size, output_size)

    def hidden(self, x: Tensor) -> Tensor:
        """Hidden outputs ``(B, S, H)`` of the PR layer."""
        out, _ = self.pr(x)
        return out

    def last_logits(self, x: Tensor, n: int) -> Tensor:
        """Logits ``(B, n, C)`` at the last ``n`` positions only.

        For ``n == 1`` (classification) this uses :meth:`PRLSTM.final_state`: ``S - 1``
        combines instead of about ``2S``, the same numbers as the full pass.
        """
        if n == 1:
            h = self.pr.final_state(x).h[-1][:, None]  # (B, 1, H)
        else:
            h = self.hidden(x)[:, -n:]
        return self.readout(torch.relu(h))

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(relu(h_t))`` at every position."""
        return self.readout(torch.relu(self.hidden(x)))
