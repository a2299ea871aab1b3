"""Positional encodings of the transformer baseline (docs/benchmark.md#positional-encodings).

- ``none``: no positional information.
- ``sin_cos``: ``[sin(p·ω_0..ω_{D/2-1}), cos(p·ω_0..ω_{D/2-1})]`` (concatenated, not
  interleaved), ``ω_k = max_time^{-2k/D}``, added to the embeddings. This project uses the
  forward positions ``p = 0 … S-1`` (the reference's reversed positions are a quirk).
- ``alibi``: additive attention bias ``slope_h · (-|i - j| + 0.5·[j < i])`` after the
  ``1/√d`` scaling, with the official ALiBi slopes.
- ``rotary``: q and k of every head rotated in adjacent pairs ``(2k, 2k+1)`` by the angle
  ``p·max_time^{-2k/d}``, forward positions ``0 … S-1``.
- ``relative``: Transformer-XL logits ``(q_i + u)·k_j + (q_i + v)·R_{i-j}``, with R a learned
  projection of the sinusoid of the distance ``i - j``; the whole sum is scaled by ``1/√d``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ENCODINGS = ("none", "sin_cos", "alibi", "rotary", "relative")
MAX_TIME = 10_000


def _float_dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype if dtype is not None and dtype.is_floating_point else torch.float32


def sinusoid_table(positions: Tensor, dim: int, max_time: float = MAX_TIME,
                   dtype: torch.dtype | None = None) -> Tensor:
    """Sinusoids of ``positions (P,)``: ``(P, dim)`` = ``[sin(p·ω) | cos(p·ω)]``.

    ``ω_k = max_time^{-2k/dim}`` for ``k = 0 … dim/2 - 1``; ``dim`` must be even.
    The angles are computed in float64 and cast to ``dtype`` (default float32).
    """
    if dim % 2:
        raise ValueError(f"sinusoid dimension must be even, got {dim}")
    k = torch.arange(dim // 2, dtype=torch.float64, device=positions.device)
    omega = max_time ** (-2.0 * k / dim)  # (dim/2,)
    angles = positions.to(torch.float64)[:, None] * omega[None, :]  # (P, dim/2)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # (P, dim)
    return table.to(_float_dtype(dtype))


def sin_cos_encoding(length: int, dim: int, max_time: float = MAX_TIME,
                     device: torch.device | None = None,
                     dtype: torch.dtype | None = None) -> Tensor:
    """The absolute SIN_COS table ``(S, dim)`` for forward positions ``0 … S-1``."""
    positions = torch.arange(length, device=device)
    return sinusoid_table(positions, dim, max_time, dtype)


def alibi_slopes(num_heads: int) -> list[float]:
    """ALiBi slopes, official recipe: for n a power of two ``2^(-8/n·(h+1))``, h = 0 … n-1;
    otherwise the slopes of the largest power of two below n, then every other slope of the
    next power of two up. 8 heads: ``[2^-1, …, 2^-8]``; 1 head: ``[2^-8]``."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (h + 1) for h in range(n)]

    if num_heads & (num_heads - 1) == 0:
        return power_of_two(num_heads)
    base = 1 << (num_heads.bit_length() - 1)
    return power_of_two(base) + alibi_slopes(2 * base)[0::2][: num_heads - base]


def alibi_bias(num_heads: int, length: int, device: torch.device | None = None,
               dtype: torch.dtype | None = None) -> Tensor:
    """The bidirectional ALiBi bias ``(H, S, S)``: ``slope_h · (-|i - j| + 0.5·[j < i])``
    for query i and key j."""
    i = torch.arange(length, device=device, dtype=torch.float64)
    diff = i[:, None] - i[None, :]  # (S, S): i - j
    base = -diff.abs() + 0.5 * (diff > 0)  # (S, S)
    slopes = torch.tensor(alibi_slopes(num_heads), dtype=torch.float64, device=device)
    return (slopes[:, None, None] * base[None]).to(_float_dtype(dtype))


def rotary_angles(length: int, head_dim: int, max_time: float = MAX_TIME,
                  device: torch.device | None = None,
                  dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """``(cos, sin)``, each ``(S, d/2)``, of the angles ``p·max_time^{-2k/d}``, p = 0 … S-1."""
    if head_dim % 2:
        raise ValueError(f"rotary encodings need an even head dimension, got {head_dim}")
    k = torch.arange(head_dim // 2, dtype=torch.float64, device=device)
    inv_freq = max_time ** (-2.0 * k / head_dim)  # (d/2,)
    p = torch.arange(length, dtype=torch.float64, device=device)
    angles = p[:, None] * inv_freq[None, :]  # (S, d/2)
    dt = _float_dtype(dtype)
    return torch.cos(angles).to(dt), torch.sin(angles).to(dt)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the adjacent pairs ``(x_{2k}, x_{2k+1})`` of ``x (..., S, d)`` by the angles
    whose ``cos``/``sin`` are ``(S, d/2)``; returns ``(..., S, d)``."""
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., S, d/2) each
    rot_even = even * cos - odd * sin
    rot_odd = odd * cos + even * sin
    return torch.stack([rot_even, rot_odd], dim=-1).flatten(-2)


def relative_distance_table(length: int, dim: int, max_time: float = MAX_TIME,
                            device: torch.device | None = None,
                            dtype: torch.dtype | None = None) -> Tensor:
    """Sinusoids ``(2S - 1, dim)`` of the distances ``S-1, S-2, …, -(S-1)`` (descending),
    the layout :func:`relative_shift` expects."""
    distances = torch.arange(length - 1, -length, -1, device=device)
    return sinusoid_table(distances, dim, max_time, dtype)


def relative_shift(logits: Tensor) -> Tensor:
    """Align per-distance logits to (query, key) pairs.

    Args:
        logits: ``(..., S, 2S - 1)``; column r of row i holds the logit of query i with the
            distance ``S - 1 - r`` (the layout of :func:`relative_distance_table`).

    Returns:
        ``(..., S, S)`` with entry ``(i, j)`` = ``logits[..., i, j + S - 1 - i]``, i.e. the
        logit for the distance ``i - j``.
    """
    S, W = logits.shape[-2], logits.shape[-1]
    if W != 2 * S - 1:
        raise ValueError(f"relative logits must be (..., S, 2S-1), got {tuple(logits.shape)}")
    if S == 1:
        return logits
    lead = logits.shape[:-2]
    flat = logits.reshape(*lead, S * W)  # row i starts at i·W
    # element (i, j) of the result sits at flat index i·(W - 1) + j + (S - 1)
    window = flat[..., S - 1 : S - 1 + S * (W - 1)].reshape(*lead, S, W - 1)
    return window[..., :S]


def sdpa_scale(head_dim: int) -> float:
    """The attention logit scale ``1/√d``."""
    return 1.0 / math.sqrt(head_dim)
