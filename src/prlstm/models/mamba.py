"""Mamba (Gu & Dao 2023): gated blocks around the S6 selective state-space scan.

One mixer, for ``u (B, T, H)`` with ``E = expand * H`` channels and state size ``N``::

    x, z   = in_proj(u).chunk(2)                      # (B, T, E) each
    x      = silu(causal_depthwise_conv(x))           # kernel conv_size, along T
    Δr, B, C = x_proj(x).split(R, N, N)               # R = dt_rank
    Δ      = softplus(dt_proj(Δr))                    # (B, T, E), one step size per channel
    A      = -exp(A_log)                              # (E, N), S4D-real init A_log = log(1..N)
    h_t    = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t x_t) ⊗ B_t   # (B, E, N), zero-order hold for A
    y_t    = h_t C_t + D ⊙ x_t                        # (B, E)
    out    = out_proj(y ⊙ silu(z))                    # (B, T, H)

``parallel=True`` evaluates the recurrence with :func:`selective_scan` (chunks of time with
the heavy work batched per chunk, a hand-written backward pass that recomputes each chunk, no
``(B, T, E, N)`` tensor) and the convolution with shifted multiply-adds; ``parallel=False``
runs the plain token-by-token loops, which are the definitions the parallel form is tested
against. :class:`Mamba` is the benchmark core: the mixers in
:class:`~prlstm.models.blocks.ResidualStackCore`, plus :meth:`Mamba.last_logits`, which the
protocol uses to skip the last layer's gate and output projection where no output is read.

Speed (one training step, B = 128, T = 40, H = 128, 2 layers, one CPU thread): about 2.3x a
``pr_lstm`` step of the same width. What mattered, measured: with ``linear_scan`` over
materialised ``(B, T, E, N)`` tensors a step cost ~60 ``pr_lstm`` steps, and autograd through
the loop made the scan ~2x slower than the hand-written backward; then batched GEMV ->
row-times-matrix products, ``exp`` -> ``exp2`` (2x faster), buffers of ~2 MiB reused chunk
after chunk (cache-resident), ``conv1d`` -> shifted multiply-adds, and ``last_logits``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from prlstm.models.blocks import ResidualStackCore
from prlstm.models.protocol import haiku_linear

__all__ = ["Mamba", "MambaMixer", "selective_scan", "selective_scan_ref"]


def _check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"mamba: option {name!r} must be a positive int, got {value!r}")
    return value


# ----------------------------------------------------------------------------- the S6 scan
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


# ----------------------------------------------------------------------------- the conv
class _CausalConv(torch.autograd.Function):
    """Causal depthwise convolution along dim 1, ``out_t = b + Σ_k w_k ⊙ x_{t-K+1+k}``, as
    ``K`` shifted in-place multiply-adds with a hand-written backward pass: forward and back,
    about 2x faster than ``conv1d`` here and 1.4x faster than autograd through slices of a
    padded copy (which allocates and zero-fills a gradient per slice)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        # x (B, T, E), weight (E, K): tap K-1 is the current token, bias (E,)
        T, K = x.shape[1], weight.shape[1]
        out = torch.addcmul(bias, x, weight[:, K - 1])  # (B, T, E)
        for k in range(max(0, K - T), K - 1):
            shift = K - 1 - k
            out[:, shift:].addcmul_(x[:, :T - shift], weight[:, k])
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        T, K = x.shape[1], weight.shape[1]
        gx = g * weight[:, K - 1]  # (B, T, E)
        gw = torch.zeros_like(weight)  # (E, K)
        gw[:, K - 1] = (g * x).sum((0, 1))
        for k in range(max(0, K - T), K - 1):
            shift = K - 1 - k
            gx[:, :T - shift].addcmul_(g[:, shift:], weight[:, k])
            gw[:, k] = (g[:, shift:] * x[:, :T - shift]).sum((0, 1))
        return gx, gw, g.sum((0, 1))


# ----------------------------------------------------------------------------- the mixer
class MambaMixer(nn.Module):
    """One Mamba block (without its residual and norm): ``(B, T, H) -> (B, T, H)``.

    Args:
        hidden_size: H.
        state_size: N, the state per channel.
        expand: E / H.
        conv_size: kernel width of the causal depthwise convolution.
        dt_rank: rank R of Δ's projection; ``None`` = ceil(H / 16).
        dt_min, dt_max: range of the initial step sizes Δ (log-uniform).
    """

    def __init__(self, hidden_size: int, state_size: int = 16, expand: int = 2,
                 conv_size: int = 4, dt_rank: int | None = None, dt_min: float = 1e-3,
                 dt_max: float = 1e-1) -> None:
        super().__init__()
        H = _check_positive_int("hidden_size", hidden_size)
        N = _check_positive_int("state_size", state_size)
        E = H * _check_positive_int("expand", expand)
        K = _check_positive_int("conv_size", conv_size)
        R = math.ceil(H / 16) if dt_rank is None else _check_positive_int("dt_rank", dt_rank)
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"mamba: options 'dt_min', 'dt_max' need 0 < dt_min <= dt_max, "
                             f"got {dt_min!r}, {dt_max!r}")
        self.hidden_size, self.state_size, self.inner_size = H, N, E
        self.conv_size, self.dt_rank = K, R
        self.in_proj = haiku_linear(H, 2 * E, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(E, K))  # (E, K); tap K-1 = current token
        self.conv_bias = nn.Parameter(torch.empty(E))
        for p in (self.conv_weight, self.conv_bias):  # as nn.Conv1d: U(±1/√fan_in), fan_in K
            nn.init.uniform_(p, -1 / math.sqrt(K), 1 / math.sqrt(K))
        self.x_proj = haiku_linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E)
        self._init_dt(dt_min, dt_max)
        # S4D-real: A = -(1 … N) for every channel
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1.0)).repeat(E, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = haiku_linear(E, H, bias=False)

    def _init_dt(self, dt_min: float, dt_max: float, floor: float = 1e-4) -> None:
        """Δ's projection as in the paper: softplus(bias) log-uniform in [dt_min, dt_max]."""
        with torch.no_grad():
            bound = self.dt_rank ** -0.5
            self.dt_proj.weight.uniform_(-bound, bound)
            u = torch.rand(self.inner_size)
            dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            dt = dt.clamp_min(floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)

    def conv(self, x: Tensor) -> Tensor:
        """Causal depthwise convolution ``(B, T, E) -> (B, T, E)`` (no activation)."""
        return _CausalConv.apply(x, self.conv_weight, self.conv_bias)

    def conv_ref(self, x: Tensor) -> Tensor:
        """:meth:`conv` one token at a time, with a window of the last ``conv_size`` inputs."""
        window = x.new_zeros(x.shape[0], self.inner_size, self.conv_size)  # (B, E, K)
        outs = []
        for x_t in x.unbind(1):
            window = torch.cat([window[:, :, 1:], x_t[:, :, None]], dim=2)
            outs.append((window * self.conv_weight).sum(-1) + self.conv_bias)
        return torch.stack(outs, dim=1)

    def forward(self, u: Tensor, parallel: bool = True, last: int | None = None) -> Tensor:
        """``u (B, T, H) -> (B, T, H)``; ``parallel=False`` runs the recurrence loop.

        ``last=n`` returns only the outputs at the last ``n`` positions, ``(B, n, H)``,
        skipping the gate and the output projection elsewhere (the scan still runs over all
        positions)."""
        N, R, E = self.state_size, self.dt_rank, self.inner_size
        if last is None:
            x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        else:
            w_x, w_z = self.in_proj.weight.split(E)  # (E, H) each
            x, z = F.linear(u, w_x), F.linear(u[:, -last:], w_z)  # (B, T, E), (B, n, E)
        x = F.silu(self.conv(x) if parallel else self.conv_ref(x))
        dt_low, Bm, C = self.x_proj(x).split([R, N, N], dim=-1)  # (B,T,R), (B,T,N), (B,T,N)
        delta = F.softplus(self.dt_proj(dt_low))  # (B, T, E)
        A = -torch.exp(self.A_log)  # (E, N)
        scan = selective_scan if parallel else selective_scan_ref
        y = scan(x, delta, A, Bm, C)  # (B, T, E)
        if last is not None:
            y, x = y[:, -last:], x[:, -last:]
        return self.out_proj(torch.addcmul(y, x, self.D) * F.silu(z))


class Mamba(ResidualStackCore):
    """Mamba benchmark core: ``num_layers`` :class:`MambaMixer` blocks in the residual stack.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        hidden_size: H.
        num_layers: L.
        state_size: N.
        expand: E / H.
        conv_size: causal conv kernel width.

    ``forward(x (B, S, V'), input_length=None, parallel=True) -> logits (B, S, C)``.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2, state_size: int = 16, expand: int = 2,
                 conv_size: int = 4) -> None:
        for name, value in [("num_layers", num_layers), ("hidden_size", hidden_size),
                            ("state_size", state_size), ("expand", expand),
                            ("conv_size", conv_size)]:
            _check_positive_int(name, value)  # before any layer is built
        super().__init__(input_size, output_size, hidden_size, num_layers,
                         lambda _: MambaMixer(hidden_size, state_size, expand, conv_size))

    def last_logits(self, x: Tensor, n: int) -> Tensor:
        """Logits ``(B, n, C)`` at the last ``n`` positions only (what the benchmark protocol
        reads); the same numbers as ``forward(x)[:, -n:]``, with the last layer's gate and
        output projection and the readout skipped at the other positions."""
        h = self.embed(x)  # (B, S, H)
        for i, (norm, mixer) in enumerate(zip(self.norms, self.mixers, strict=True)):
            if i + 1 < self.num_layers:
                h = h + mixer(norm(h))
            else:
                h = h[:, -n:] + mixer(norm(h), last=n)  # (B, n, H)
        return self.readout(self.final_norm(h))
