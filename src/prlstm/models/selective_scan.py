"""The S6 selective scan of Mamba (Gu & Dao 2023): the definition and a fast chunked form.

For ``x, Δ (B, T, E)``, ``A (E, N)`` and ``B, C (B, T, N)``::

    h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t x_t) ⊗ B_t      # (B, E, N), h_0 = 0
    y_t = h_t C_t                                      # (B, E)

:func:`selective_scan_ref` runs it token by token (the definition the fast form is tested
against); :func:`selective_scan` evaluates it in chunks of time with the heavy work batched per
chunk and a hand-written backward pass that recomputes each chunk, so no ``(B, T, E, N)``
tensor is ever materialised.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["selective_scan", "selective_scan_ref"]

_LOG2E = 1.0 / math.log(2.0)


def selective_scan_ref(x: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, C: Tensor) -> Tensor:
    """The S6 recurrence one token at a time (the definition).

    Args:
        x: ``(B, T, E)`` inputs.
        delta: ``(B, T, E)`` positive step sizes Δ.
        A: ``(E, N)`` (negative) diagonal state matrix.
        Bm: ``(B, T, N)`` input projections B_t.
        C: ``(B, T, N)`` output projections C_t.

    Returns:
        ``(B, T, E)``: ``y_t = h_t C_t`` (without the D skip), from ``h_0 = 0``.
    """
    batch, _, E = x.shape
    h = x.new_zeros(batch, E, A.shape[1])  # (B, E, N)
    ys = []
    for x_t, d_t, b_t, c_t in zip(x.unbind(1), delta.unbind(1), Bm.unbind(1), C.unbind(1),
                                  strict=True):
        h = torch.exp(d_t[:, :, None] * A) * h + (d_t * x_t)[:, :, None] * b_t[:, None, :]
        ys.append(torch.einsum("ben,bn->be", h, c_t))
    return torch.stack(ys, dim=1)


def _chunk_states(d: Tensor, dx: Tensor, Bm: Tensor, At2: Tensor, h0: Tensor | None,
                  decay: Tensor, states: Tensor) -> None:
    """Fill ``decay`` and ``states`` for one chunk of ``c`` steps (time-major, state index
    before channel; written in place to reuse the same memory chunk after chunk).

    Args:
        d: ``(c, B, E)`` step sizes; dx: ``(c, B, E)`` = Δ ⊙ x; Bm: ``(c, B, N)``;
        At2: ``(N, E)`` = Aᵀ log2(e), so that ``exp2(Δ At2) = exp(Δ A)`` (``exp2`` is twice
        as fast as ``exp`` on CPU); h0: ``(B, N, E)`` state before the chunk, or ``None``.
        decay: ``(c, B, N, E)`` out: ``exp(Δ_t A)``.
        states: ``(c, B, N, E)`` out: ``h_t``.
    """
    torch.mul(d[:, :, None, :], At2, out=decay).exp2_()
    torch.mul(Bm[..., None], dx[:, :, None, :], out=states)  # Δ_t x_t ⊗ B_t
    h, decays = states.unbind(0), decay.unbind(0)
    if h0 is not None:
        h[0].addcmul_(decays[0], h0)
    for i in range(1, len(h)):  # the only sequential part: one FMA per step
        h[i].addcmul_(decays[i], h[i - 1])


def _contract(a: Tensor, b: Tensor, out: Tensor) -> None:
    """``out (c, B, N) = Σ_e a[..., n, e] b[..., e]`` for ``a (c, B, N, E)``, ``b (c, B, E)``."""
    c, batch, N, E = a.shape  # a row times a transposed matrix: (much) faster than GEMV here
    rows = b.reshape(c * batch, 1, E)
    torch.bmm(rows, a.view(c * batch, N, E).transpose(1, 2), out=out.view(c * batch, 1, N))


def _expand(a: Tensor, b: Tensor, out: Tensor) -> None:
    """``out (c, B, E) = Σ_n a[..., n, e] b[..., n]`` for ``a (c, B, N, E)``, ``b (c, B, N)``."""
    c, batch, N, E = a.shape
    rows = b.reshape(c * batch, 1, N)
    torch.bmm(rows, a.view(c * batch, N, E), out=out.view(c * batch, 1, E))


def _spans(length: int, chunk: int) -> list[slice]:
    """The chunks ``[s, s + chunk)`` of ``range(length)``."""
    return [slice(s, min(s + chunk, length)) for s in range(0, length, chunk)]


class _SelectiveScan(torch.autograd.Function):
    """:func:`selective_scan_ref` by chunks, with a backward pass that recomputes each chunk.

    Autograd through the loop would keep several ``(B, E, N)`` tensors per step; here only
    the state at each chunk boundary is kept (``save=False``, without gradients: only the
    latest), and every chunk reuses the same few ``(c, B, N, E)`` buffers, which stay in
    cache. Tensors inside are time-major: ``(T, B, E)``, ``(T, B, N)``, ``(c, B, N, E)``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, C: Tensor,
                chunk: int, save: bool) -> Tensor:
        d = delta.transpose(0, 1).contiguous()  # (T, B, E)
        dx = torch.empty_like(d)
        torch.mul(delta.transpose(0, 1), x.transpose(0, 1), out=dx)  # (T, B, E)
        Bt, Ct = Bm.transpose(0, 1).contiguous(), C.transpose(0, 1).contiguous()  # (T, B, N)
        At = A.t().contiguous()  # (N, E)
        (T, batch, E), N = d.shape, At.shape[0]
        spans = _spans(T, chunk)
        decay, states = d.new_empty(2, min(chunk, T), batch, N, E)  # work space
        # the state before chunks 1, 2, …: all of them for backward, else the latest only
        bounds = d.new_empty(len(spans) - 1 if save else 1, batch, N, E)
        y = torch.empty_like(d)  # (T, B, E)
        for k, sl in enumerate(spans):
            n = sl.stop - sl.start
            h0 = bounds[k - 1 if save else 0] if k else None
            _chunk_states(d[sl], dx[sl], Bt[sl], At * _LOG2E, h0, decay[:n], states[:n])
            _expand(states[:n], Ct[sl], y[sl])
            if k + 1 < len(spans):
                bounds[k if save else 0].copy_(states[n - 1])
        if save:
            ctx.save_for_backward(x, delta, At, d, dx, Bt, Ct, bounds)
            ctx.chunk = chunk
        return y.transpose(0, 1)  # (B, T, E)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, delta, At, d, dx, Bt, Ct, bounds = ctx.saved_tensors
        gy = gy.transpose(0, 1).contiguous()  # (T, B, E)
        (T, batch, E), N = d.shape, At.shape[0]
        grads = (torch.empty_like(d), torch.empty_like(d), torch.empty_like(Bt),
                 torch.empty_like(Ct), torch.zeros_like(At))  # gd, gdx, gB, gC, gAt
        work = d.new_empty(4, min(ctx.chunk, T), batch, N, E)
        carry: Tensor | None = None  # dL/dh at the end of the chunk, from later chunks
        spans = _spans(T, ctx.chunk)
        for k in reversed(range(len(spans))):
            sl = spans[k]
            inputs = (d[sl], dx[sl], Bt[sl], Ct[sl], gy[sl], bounds[k - 1] if k else None)
            carry = _chunk_backward(inputs, At, carry, work[:, :sl.stop - sl.start],
                                    tuple(g[sl] for g in grads[:4]) + (grads[4],))
        gd, gdx, gB, gC, gAt = grads
        gdx = gdx.transpose(0, 1)  # (B, T, E)
        gdelta = torch.addcmul(gd.transpose(0, 1), gdx, x)
        return (gdx * delta, gdelta, gAt.t(), gB.transpose(0, 1), gC.transpose(0, 1), None,
                None)


def _chunk_backward(inputs: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | None],
                    At: Tensor, carry: Tensor | None, work: Tensor,
                    out: tuple[Tensor, ...]) -> Tensor:
    """Backward pass through one chunk of ``c`` steps.

    Args:
        inputs: ``(d, dx, Bt, Ct, gy, h0)`` of the chunk, time-major as in the forward pass;
            ``gy (c, B, E)``, ``h0 (B, N, E)`` or ``None``.
        At: ``(N, E)``.
        carry: ``(B, N, E)`` dL/dh at the chunk's last state from later steps, or ``None``.
        work: ``(4, c, B, N, E)`` scratch memory.
        out: ``(gd, gdx, gB, gC, gAt)``, written (``gAt`` accumulates).

    Returns:
        ``(B, N, E)``: dL/dh at the state before the chunk (through ``exp(Δ A)``).
    """
    d, dx, Bt, Ct, gy, h0 = inputs
    gd, gdx, gB, gC, gAt = out
    decay, states, g, scratch = work.unbind(0)  # (c, B, N, E) each
    _chunk_states(d, dx, Bt, At * _LOG2E, h0, decay, states)
    torch.mul(Ct[..., None], gy[:, :, None, :], out=g)  # dL/dh_t: direct part
    if carry is not None:
        g[-1] += carry
    gs, decays = g.unbind(0), decay.unbind(0)
    for i in range(len(gs) - 1, 0, -1):  # h_t feeds h_{t+1} through exp(Δ_{t+1} A)
        gs[i - 1].addcmul_(decays[i], gs[i])
    carry = decays[0] * gs[0]
    _contract(states, gy, gC)
    _contract(g, dx, gB)
    _expand(g, Bt, gdx)
    g.mul_(decay)  # dL/d(Δ_t A) = dL/dh_t ⊙ exp(Δ_t A) ⊙ h_{t-1}
    g[1:].mul_(states[:-1])
    if h0 is None:
        g[0].zero_()
    else:
        g[0].mul_(h0)
    gAt.add_(torch.mul(g, d[:, :, None, :], out=scratch).sum((0, 1)))
    torch.sum(torch.mul(g, At, out=scratch), -2, out=gd)
    return carry


def _default_blocks(batch: int, state_size: int, channels: int,
                    device: torch.device) -> tuple[int, int]:
    """``(chunk_size, batch_block)`` for :func:`selective_scan`.

    On CPU one ``(c, b, N, E)`` buffer holds about 2**19 numbers (2 MiB in float32) at about
    4 steps per chunk, the fastest on one core (the buffers stay in cache); elsewhere the
    whole batch goes in one block with buffers of about 2**24 numbers (fewer kernels)."""
    per_step = max(1, state_size * channels)
    if device.type != "cpu":
        return max(1, 2 ** 24 // (batch * per_step)), batch
    block = min(batch, max(1, 2 ** 17 // per_step))
    return max(1, 2 ** 19 // (block * per_step)), block


def selective_scan(x: Tensor, delta: Tensor, A: Tensor, Bm: Tensor, C: Tensor,
                   chunk_size: int | None = None, batch_block: int | None = None) -> Tensor:
    """:func:`selective_scan_ref`, evaluated by chunks of ``chunk_size`` steps and blocks of
    ``batch_block`` sequences.

    Within a chunk the decays ``exp(Δ_t A)``, the inputs ``Δ_t x_t ⊗ B_t`` and the readouts
    ``h_t C_t`` are computed for all steps at once, and only the FMA
    ``h_t = decay_t ⊙ h_{t-1} + input_t`` runs step by step: on CPU this beats a parallel
    doubling scan (:func:`~prlstm.models.scan.linear_scan`), which does ``log T`` times the
    work on ``(B, T, E, N)`` tensors. The backward pass recomputes each chunk from the state
    at its start; only those states are kept. Same arguments and result as the reference;
    ``None`` picks sizes from :func:`_default_blocks`.
    """
    default_chunk, default_block = _default_blocks(x.shape[0], A.shape[1], A.shape[0],
                                                   x.device)
    chunk_size = chunk_size or default_chunk
    batch_block = batch_block or default_block
    blocks = zip(*(t.split(batch_block) for t in (x, delta, Bm, C)), strict=True)
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (x, delta, A, Bm, C))
    parts = [_SelectiveScan.apply(xb, db, A, bb, cb, chunk_size, save)
             for xb, db, bb, cb in blocks]
    return parts[0] if len(parts) == 1 else torch.cat(parts)
