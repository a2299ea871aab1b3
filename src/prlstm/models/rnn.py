"""Baseline recurrent cores of the benchmark (docs/benchmark.md#rnn-and-lstm): ReLU RNN and LSTM.

Both mirror the reference (Haiku) cores and are unrolled from a zero state, one token per
step, with the readout ``Linear(relu(h_t))`` at every step:

- ``rnn``: ``h_t = relu(W_x x_t + b_x + W_h h_{t-1} + b_h)`` (two bias vectors);
- ``lstm``: one Linear on ``[x_t, h_{t-1}]`` gives the pre-activations in the order
  ``(i, g, f, o)``; ``c_t = σ(f + 1)·c_{t-1} + σ(i)·tanh(g)``, ``h_t = σ(o)·tanh(c_t)``.

The time loops run in PyTorch's fused recurrent kernels (``torch.rnn_relu`` / ``torch.lstm``,
cuDNN on GPU) with weights derived from the Haiku-layout parameters on every call, so the
parameter count stays exact (one LSTM bias, not two). ``fused=False`` runs the plain Python
loop, which is the definition the fused path is tested against.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear


def _fused_call(x: Tensor, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a fused RNN op, silencing cuDNN's note about non-contiguous (derived) weights.

    The ops' ``train`` flag only matters for dropout (0 here) and for cuDNN, which can run
    a backward pass only after a forward in training mode; callers pass
    ``torch.is_grad_enabled()`` so that gradients work in ``eval()`` mode too."""
    if x.is_cuda:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
            return fn(*args)
    return fn(*args)


class VanillaRNN(nn.Module):
    """ReLU vanilla RNN core with the benchmark readout.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C, number of output classes.
        hidden_size: H.

    ``forward(x (B, S, V'), input_length=None) -> logits (B, S, C)``; ``input_length`` is
    accepted for the protocol and ignored.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256) -> None:
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.input_to_hidden = haiku_linear(input_size, hidden_size)  # W_x, b_x
        self.hidden_to_hidden = haiku_linear(hidden_size, hidden_size)  # W_h, b_h
        self.readout = haiku_linear(hidden_size, output_size)

    def hidden(self, x: Tensor, fused: bool = True) -> Tensor:
        """All hidden states ``(B, S, H)`` for inputs ``x (B, S, V')``, from a zero state.

        ``fused=False`` runs the explicit Python loop (the definition, used in tests)."""
        B = x.shape[0]
        ih, hh = self.input_to_hidden, self.hidden_to_hidden
        if fused:
            h0 = x.new_zeros(1, B, self.hidden_size)  # (layers, B, H)
            params = [ih.weight, hh.weight, ih.bias, hh.bias]
            out, _ = _fused_call(x, torch.rnn_relu, x, h0, params, True, 1, 0.0,
                                 torch.is_grad_enabled(), False, True)
            return out
        # input projection and both biases for every step; unbind once (indexing xp[:, t]
        # in the loop would make the backward pass quadratic in S)
        xps = (ih(x) + hh.bias).unbind(1)  # S x (B, H)
        h = x.new_zeros(B, self.hidden_size)  # (B, H)
        w_hT = hh.weight.t()  # (H, H)
        outs = []
        for xp_t in xps:
            h = torch.relu(torch.addmm(xp_t, h, w_hT))
            outs.append(h)
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(relu(h_t))`` at every step."""
        return self.readout(torch.relu(self.hidden(x)))


class LSTM(nn.Module):
    """LSTM core (Haiku ``hk.LSTM`` semantics) with the benchmark readout.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C, number of output classes.
        hidden_size: H.

    Parameters: ``gates`` is one Linear on ``[x_t, h_{t-1}]`` (fan-in V' + H) producing
    ``4H`` pre-activations in Haiku's order ``(i, g, f, o)``; +1 is added to the forget gate
    in the forward pass, not stored in the bias.
    """

    FORGET_BIAS = 1.0

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256) -> None:
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.gates = haiku_linear(input_size + hidden_size, 4 * hidden_size)
        self.readout = haiku_linear(hidden_size, output_size)

    def _torch_layout(self) -> tuple[Tensor, Tensor, Tensor]:
        """Weights reordered to PyTorch's gate order ``(i, f, g, o)``, forget bias folded in:
        ``(w_ih (4H, V'), w_hh (4H, H), b (4H,))``."""
        H, D = self.hidden_size, self.input_size
        w, b = self.gates.weight, self.gates.bias  # (4H, D+H), (4H,)
        order = [slice(0, H), slice(2 * H, 3 * H), slice(H, 2 * H), slice(3 * H, 4 * H)]
        w = torch.cat([w[s] for s in order], dim=0)  # (4H, D+H) in (i, f, g, o)
        forget = torch.zeros_like(b)
        forget[H : 2 * H] = self.FORGET_BIAS
        b = torch.cat([b[s] for s in order], dim=0) + forget  # (4H,)
        return w[:, :D], w[:, D:], b

    def hidden(self, x: Tensor, fused: bool = True) -> Tensor:
        """All hidden states ``(B, S, H)`` for inputs ``x (B, S, V')``, from a zero state.

        ``fused=False`` runs the explicit Python loop (the definition, used in tests)."""
        B = x.shape[0]
        H = self.hidden_size
        if fused:
            w_ih, w_hh, b = self._torch_layout()
            zeros = x.new_zeros(1, B, H)  # (layers, B, H)
            params = [w_ih, w_hh, b, torch.zeros_like(b)]
            out, _, _ = _fused_call(x, torch.lstm, x, (zeros, zeros), params, True, 1, 0.0,
                                    torch.is_grad_enabled(), False, True)
            return out
        w, bias = self.gates.weight, self.gates.bias  # (4H, V'+H), (4H,)
        D = self.input_size
        xps = F.linear(x, w[:, :D], bias).unbind(1)  # S x (B, 4H)
        w_hT = w[:, D:].t()  # (H, 4H)
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        outs = []
        for xp_t in xps:
            z = torch.addmm(xp_t, h, w_hT)  # (B, 4H): (i, g, f, o)
            i, g, f, o = z.split(H, dim=-1)
            c = torch.sigmoid(f + self.FORGET_BIAS) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(relu(h_t))`` at every step."""
        return self.readout(torch.relu(self.hidden(x)))


class Controller(nn.Module):
    """The ReLU vanilla-RNN controller of the memory-augmented baselines
    (Stack-RNN, Tape-RNN).

    Its input at step t is ``[x_t, r_t]``: the token and what it reads from memory. The
    token part of the input projection is computed for all steps at once
    (:meth:`project_inputs`); :meth:`step` adds the memory read and the recurrence.

    Args:
        input_size: V', the token width.
        read_size: width of the memory read r_t.
        hidden_size: H.
    """

    def __init__(self, input_size: int, read_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.read_size, self.hidden_size = input_size, read_size, hidden_size
        self.input_to_hidden = haiku_linear(input_size + read_size, hidden_size)
        self.hidden_to_hidden = haiku_linear(hidden_size, hidden_size)

    def project_inputs(self, x: Tensor) -> Tensor:
        """``W_x x_t + b_x + b_h`` for every step: ``(B, S, V') -> (B, S, H)``.

        Loops should ``unbind(1)`` the result once rather than index ``[:, t]`` per step,
        whose backward pass costs O(S) per step."""
        w = self.input_to_hidden.weight[:, : self.input_size]  # (H, V')
        return F.linear(x, w, self.input_to_hidden.bias + self.hidden_to_hidden.bias)

    def recurrent_weight(self) -> Tensor:
        """``[W_r, W_h]ᵀ`` of shape ``(read_size + H, H)``, to apply to ``[r_t, h_{t-1}]``."""
        w_r = self.input_to_hidden.weight[:, self.input_size :]  # (H, read)
        return torch.cat([w_r, self.hidden_to_hidden.weight], dim=1).t()

    @staticmethod
    def step(xp_t: Tensor, read: Tensor, h: Tensor, w_rhT: Tensor) -> Tensor:
        """One step: ``relu(xp_t + [read, h] @ w_rhT)`` with ``xp_t (B, H)``, ``read (B, r)``,
        ``h (B, H)`` -> ``(B, H)``."""
        return torch.relu(torch.addmm(xp_t, torch.cat([read, h], dim=-1), w_rhT))
