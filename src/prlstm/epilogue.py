"""The LSTM gate epilogue shared by leaf, merge and refinement cells, with a hand-written
backward.

``z = [i|g|o|f_1|…|f_k]`` ``(..., (3+k)H)`` and ``k`` memory inputs ``c_j`` ``(..., H)``:
``c = σ(i)·tanh(g) + Σ_j σ(f_j)·c_j`` and ``h = σ(o)·tanh(c)``. Autograd through slices of
``z`` would build a zero-filled ``z``-sized gradient per gate and add them up; the custom
backward writes each gate's gradient straight into one buffer. ``tanh(x) = 2σ(2x) − 1``
because σ is several times cheaper than tanh in PyTorch's CPU kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _tanh(x: Tensor) -> Tensor:
    """``tanh`` as ``2σ(2x) − 1`` into a fresh buffer."""
    return torch.mul(x, 2).sigmoid_().mul_(2).sub_(1)


def _gates(z: Tensor, c_terms: tuple[Tensor, ...], H: int) -> tuple[Tensor, Tensor, Tensor]:
    """Forward math. Returns ``(s, c, tanh c)``; ``s`` holds σ of every gate except the g
    slot, which holds tanh(g). ``z`` is not modified."""
    s = torch.sigmoid(z)
    s[..., H : 2 * H] = _tanh(z[..., H : 2 * H])
    c = s[..., :H] * s[..., H : 2 * H]
    for j, c_j in enumerate(c_terms):
        c.addcmul_(s[..., (3 + j) * H : (4 + j) * H], c_j)
    return s, c, _tanh(c)


class _Epilogue(torch.autograd.Function):
    @staticmethod
    def forward(ctx, H: int, z: Tensor, *c_terms: Tensor) -> tuple[Tensor, Tensor]:
        s, c, tc = _gates(z, c_terms, H)
        ctx.H = H
        ctx.save_for_backward(s, tc, *c_terms)
        return s[..., 2 * H : 3 * H] * tc, c

    @staticmethod
    def backward(ctx, dh: Tensor, dc_out: Tensor) -> tuple[Tensor | None, ...]:
        H = ctx.H
        s, tc, *c_terms = ctx.saved_tensors
        s_i, tg, s_o = s[..., :H], s[..., H : 2 * H], s[..., 2 * H : 3 * H]
        dc = dc_out + dh * s_o * (1 - tc * tc)
        dz = torch.empty_like(s)
        dz[..., :H] = dc * tg * s_i * (1 - s_i)
        dz[..., H : 2 * H] = dc * s_i * (1 - tg * tg)
        dz[..., 2 * H : 3 * H] = dh * tc * s_o * (1 - s_o)
        dcs = []
        for j, c_j in enumerate(c_terms):
            s_f = s[..., (3 + j) * H : (4 + j) * H]
            dz[..., (3 + j) * H : (4 + j) * H] = dc * c_j * s_f * (1 - s_f)
            dcs.append(dc * s_f if ctx.needs_input_grad[2 + j] else None)
        return None, dz, *dcs


def lstm_epilogue(z: Tensor, c_terms: tuple[Tensor, ...], hidden: int) -> tuple[Tensor, Tensor]:
    """``(h, c)`` from pre-activations ``z`` ``(..., (3+k)H)`` and memories ``c_terms``.

    Without autograd, ``z`` is overwritten (callers pass a fresh linear output).
    """
    if torch.is_grad_enabled() and (z.requires_grad or any(c.requires_grad for c in c_terms)):
        return _Epilogue.apply(hidden, z, *c_terms)
    # Inference: z is the caller's fresh pre-activation buffer, so work in place on it.
    H = hidden
    z[..., H : 2 * H].mul_(2)
    s = z.sigmoid_()
    c = s[..., H : 2 * H].mul(2).sub_(1).mul_(s[..., :H])  # σ(i)·tanh(g)
    for j, c_j in enumerate(c_terms):
        c.addcmul_(s[..., (3 + j) * H : (4 + j) * H], c_j)
    return _tanh(c).mul_(s[..., 2 * H : 3 * H]), c
