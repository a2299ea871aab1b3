"""Transformer-encoder baseline (docs/benchmark.md#transformer), non-causal, post-LayerNorm.

- Embedding: bias-free Linear on the one-hot input (truncated normal, σ = 0.02), times √D.
- ``sin_cos`` only: add the sinusoid table, then dropout; other encodings add nothing and
  apply no input dropout.
- Each layer: ``a = LN(h + Dropout(MHA(h)))``, ``h = LN(a + Dropout(W2 relu(W1 a + b1) + b2))``
  with bias-free Q, K, V and output projections and logits ``q·k/√d`` plus the encoding's
  terms (:mod:`prlstm.models.positional`).
- Head: ``Linear(C)`` at every position (no ReLU).

Dropout is inverted dropout and is active only in training mode (``model.train()``), a
deliberate difference from the reference, whose dropout stays on at evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models import positional as pe
from prlstm.models.protocol import haiku_linear, trunc_normal_


@dataclass
class _Positions:
    """Per-forward positional tensors shared by all layers (each None when unused)."""

    alibi: Tensor | None = None  # (H, S, S)
    rotary: tuple[Tensor, Tensor] | None = None  # cos, sin: (S, d/2) each
    relative: Tensor | None = None  # (2S - 1, D) sinusoids of the distances S-1 … -(S-1)


class EncoderLayer(nn.Module):
    """One post-LN encoder layer.

    Args:
        dim: model width D.
        num_heads: H; the head width is ``d = D / H``.
        ff_size: hidden width of the feed-forward block.
        dropout: dropout probability (training mode only).
        positional_encoding: one of :data:`prlstm.models.positional.ENCODINGS`; ``relative``
            adds ``r_proj`` (Linear D -> D, no bias) and the per-head biases ``u``, ``v``.
    """

    def __init__(self, dim: int, num_heads: int, ff_size: int, dropout: float,
                 positional_encoding: str) -> None:
        super().__init__()
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.positional_encoding = positional_encoding
        self.q = haiku_linear(dim, dim, bias=False)
        self.k = haiku_linear(dim, dim, bias=False)
        self.v = haiku_linear(dim, dim, bias=False)
        self.out = haiku_linear(dim, dim, bias=False)
        if positional_encoding == "relative":
            self.r_proj = haiku_linear(dim, dim, bias=False)
            self.u = nn.Parameter(torch.randn(num_heads, self.head_dim) * 0.02)  # content bias
            self.v_bias = nn.Parameter(torch.randn(num_heads, self.head_dim) * 0.02)
        self.norm_attn = nn.LayerNorm(dim, eps=1e-5)
        self.ff1 = haiku_linear(dim, ff_size)
        self.ff2 = haiku_linear(ff_size, dim)
        self.norm_ff = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> Tensor:
        B, S, _ = x.shape
        return x.view(B, S, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, S, d)

    def attention(self, h: Tensor, pos: _Positions) -> Tensor:
        """Multi-head self-attention ``(B, S, D) -> (B, S, D)`` (before dropout)."""
        B, S, D = h.shape
        q, k, v = self._heads(self.q(h)), self._heads(self.k(h)), self._heads(self.v(h))
        scale = pe.sdpa_scale(self.head_dim)
        bias: Tensor | None = None
        if pos.rotary is not None:
            cos, sin = pos.rotary
            q, k = pe.apply_rotary(q, cos, sin), pe.apply_rotary(k, cos, sin)
        if pos.alibi is not None:
            bias = pos.alibi[None]  # (1, H, S, S)
        if pos.relative is not None:
            r = self.r_proj(pos.relative).view(2 * S - 1, self.num_heads, self.head_dim)
            qv = q + self.v_bias[None, :, None, :]  # (B, H, S, d)
            rel = torch.einsum("bhsd,rhd->bhsr", qv, r)  # (B, H, S, 2S-1)
            bias = pe.relative_shift(rel) * scale  # (B, H, S, S)
            q = q + self.u[None, :, None, :]
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
        ctx = ctx.transpose(1, 2).reshape(B, S, D)  # (B, S, D)
        return self.out(ctx)

    def forward(self, h: Tensor, pos: _Positions) -> Tensor:
        """``(B, S, D) -> (B, S, D)``."""
        a = self.norm_attn(h + self.dropout(self.attention(h, pos)))
        ff = self.ff2(torch.relu(self.ff1(a)))
        return self.norm_ff(a + self.dropout(ff))


class TransformerEncoder(nn.Module):
    """Transformer-encoder core with a ``Linear(C)`` head at every position.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        embedding_dim: model width D (64).
        num_layers: encoder layers (5).
        num_heads: attention heads (8); must divide D.
        ff_size: feed-forward hidden width (256).
        dropout: dropout probability (0.1), training mode only.
        positional_encoding: ``none``, ``sin_cos`` (default), ``alibi``, ``rotary`` or
            ``relative``.
        max_time: the sinusoids' maximum timescale (10 000).

    ``forward(x (B, S, V'), input_length=None) -> logits (B, S, C)``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        embedding_dim: int = 64,
        num_layers: int = 5,
        num_heads: int = 8,
        ff_size: int = 256,
        dropout: float = 0.1,
        positional_encoding: str = "sin_cos",
        max_time: float = pe.MAX_TIME,
    ) -> None:
        super().__init__()
        if positional_encoding not in pe.ENCODINGS:
            raise ValueError(f"positional_encoding must be one of {pe.ENCODINGS}, got "
                             f"{positional_encoding!r}")
        if embedding_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embedding_dim={embedding_dim}")
        if positional_encoding == "rotary" and (embedding_dim // num_heads) % 2:
            raise ValueError(f"rotary encodings need an even head width, got embedding_dim/"
                             f"num_heads = {embedding_dim}/{num_heads}")
        if positional_encoding == "sin_cos" and embedding_dim % 2:
            raise ValueError(f"sin_cos encodings need an even embedding_dim, got {embedding_dim}")
        self.input_size, self.output_size = input_size, output_size
        self.embedding_dim, self.num_heads = embedding_dim, num_heads
        self.positional_encoding, self.max_time = positional_encoding, max_time
        self.embedding = nn.Linear(input_size, embedding_dim, bias=False)
        trunc_normal_(self.embedding.weight, 0.02)
        self.input_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(embedding_dim, num_heads, ff_size, dropout, positional_encoding)
            for _ in range(num_layers)
        )
        self.readout = haiku_linear(embedding_dim, output_size)

    def _positions(self, S: int, device: torch.device, dtype: torch.dtype) -> _Positions:
        enc, kw = self.positional_encoding, {"device": device, "dtype": dtype}
        if enc == "alibi":
            return _Positions(alibi=pe.alibi_bias(self.num_heads, S, **kw))
        if enc == "rotary":
            head_dim = self.embedding_dim // self.num_heads
            return _Positions(rotary=pe.rotary_angles(S, head_dim, self.max_time, **kw))
        if enc == "relative":
            return _Positions(relative=pe.relative_distance_table(S, self.embedding_dim,
                                                                  self.max_time, **kw))
        return _Positions()

    def encode(self, x: Tensor) -> Tensor:
        """Final hidden states ``(B, S, D)`` for inputs ``x (B, S, V')``."""
        S = x.shape[1]
        h = self.embedding(x) * math.sqrt(self.embedding_dim)  # (B, S, D)
        if self.positional_encoding == "sin_cos":
            table = pe.sin_cos_encoding(S, self.embedding_dim, self.max_time,
                                        device=x.device, dtype=h.dtype)  # (S, D)
            h = self.input_dropout(h + table)
        pos = self._positions(S, x.device, h.dtype)
        for layer in self.layers:
            h = layer(h, pos)
        return h

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        """Logits ``(B, S, C)`` = ``Linear(h_t)`` at every position."""
        return self.readout(self.encode(x))
