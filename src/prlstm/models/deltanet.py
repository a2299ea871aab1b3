"""DeltaNet: linear attention with the delta rule (Schlag et al. 2021; Yang et al. 2024).

One mixer, for ``u (B, T, H)`` with ``num_heads`` heads of width ``d = H / num_heads``::

    q, k  = l2norm(silu(W_q u)), l2norm(silu(W_k u))     # (B, T, heads, d), unit rows
    v     = W_v u                                       # (B, T, heads, d)
    β     = σ(W_β u)          ("positive": β ∈ (0, 1))  # (B, T, heads)
          = 2 σ(W_β u)        ("negative": β ∈ (0, 2))
    S_t   = S_{t-1} (I - β_t k_t k_tᵀ) + β_t v_t k_tᵀ    # (d, d) per head, S_0 = 0
    o_t   = S_t q_t
    out   = W_o rmsnorm_per_head(o)                     # (B, T, H)

With ``eigenvalues="negative"`` (Grazzi et al. 2024) the transition ``I - β k kᵀ`` has its
eigenvalues in ``(-1, 1]`` instead of ``[0, 1]``, which lets the state flip sign (e.g. for
parity).

``parallel=True`` runs the chunkwise form of Yang et al. 2024: inside a chunk of ``c`` steps
the products of the transitions are kept in the WY form ``I - Σ w_i k_iᵀ``, and with
``T = (I + tril(diag(β) K Kᵀ, -1))`` (unit lower triangular) ::

    W = T⁻¹ diag(β) K,   U = T⁻¹ diag(β) V                  # (c, d): one triangular solve
    Ũ = U - W M                                             # M = S_0ᵀ, the carried state
    O = Q M + tril(Q Kᵀ) Ũ,   M ← M + Kᵀ Ũ

for all chunks at once except the ``O`` / ``M`` step, which runs chunk after chunk.
``parallel=False`` is the token-by-token recurrence above, which the chunkwise form is
tested against. :class:`DeltaNet` is the benchmark core: the mixers in
:class:`~prlstm.models.blocks.ResidualStackCore`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models.blocks import ResidualStackCore
from prlstm.models.protocol import haiku_linear

__all__ = ["EIGENVALUES", "DeltaNet", "DeltaNetMixer", "delta_rule_chunked", "delta_rule_ref"]

#: The ranges of β: ``"positive"`` σ(·) ∈ (0, 1), ``"negative"`` 2σ(·) ∈ (0, 2).
EIGENVALUES = ("positive", "negative")


def _check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"deltanet: option {name!r} must be a positive int, got {value!r}")
    return value


def _check_options(hidden_size: object, num_heads: object, eigenvalues: object,
                   chunk_size: object) -> tuple[int, int]:
    """Validate a layer's options (one-line ValueErrors); returns ``(H, heads)``."""
    H = _check_positive_int("hidden_size", hidden_size)
    heads = _check_positive_int("num_heads", num_heads)
    if H % heads:
        raise ValueError(f"deltanet: option 'num_heads' ({heads}) must divide "
                         f"hidden_size ({H})")
    if eigenvalues not in EIGENVALUES:
        raise ValueError(f"deltanet: option 'eigenvalues' must be one of {EIGENVALUES}, "
                         f"got {eigenvalues!r}")
    _check_positive_int("chunk_size", chunk_size)
    return H, heads


# ----------------------------------------------------------------------------- delta rule
def delta_rule_ref(q: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """The delta rule one token at a time (the definition), from ``S_0 = 0``.

    Args:
        q, k: ``(B, heads, T, d)`` queries and keys (unit rows for DeltaNet).
        v: ``(B, heads, T, d_v)`` values.
        beta: ``(B, heads, T)`` write strengths.

    Returns:
        ``(B, heads, T, d_v)``: ``o_t = S_t q_t``.
    """
    batch, heads, _, d = k.shape
    M = k.new_zeros(batch, heads, d, v.shape[-1])  # Sᵀ, (B, heads, d, d_v)
    outs = []
    for q_t, k_t, v_t, b_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), beta.unbind(2),
                                  strict=True):
        err = v_t - torch.einsum("bhkv,bhk->bhv", M, k_t)  # v_t - S_{t-1} k_t
        M = M + b_t[..., None, None] * k_t[..., :, None] * err[..., None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", M, q_t))  # S_t q_t
    return torch.stack(outs, dim=2)


def _to_chunks(x: Tensor, chunk: int) -> Tensor:
    """``(B, h, T, *D) -> (B, h, n, c, *D)``, zero-padded at the end to ``n c >= T``."""
    T = x.shape[2]
    n = -(-T // chunk)
    if n * chunk != T:
        pad = [0, 0] * (x.dim() - 3) + [0, n * chunk - T]
        x = F.pad(x, pad)  # zero keys, values and β leave the state alone
    return x.reshape(*x.shape[:2], n, chunk, *x.shape[3:])


def delta_rule_chunked(q: Tensor, k: Tensor, v: Tensor, beta: Tensor,
                       chunk_size: int = 64) -> Tensor:
    """:func:`delta_rule_ref` in chunks of ``chunk_size`` steps (the WY / UT form).

    Same arguments and result as :func:`delta_rule_ref`. ``T`` need not be a multiple of
    ``chunk_size``: the last chunk is zero-padded (a zero key and β = 0 write nothing).
    """
    T = q.shape[2]
    c = min(chunk_size, T)
    Q, K, V = (_to_chunks(t, c) for t in (q, k, v))  # (B, h, n, c, d)
    b = _to_chunks(beta, c)[..., None]  # (B, h, n, c, 1)
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()  # i <= t
    gram = (b * K) @ K.transpose(-1, -2)  # β_t k_tᵀ k_i, (B, h, n, c, c)
    lhs = torch.eye(c, dtype=q.dtype, device=q.device) + gram * causal.tril(-1)
    WU = torch.linalg.solve_triangular(lhs, b * torch.cat([K, V], dim=-1), upper=False,
                                       unitriangular=True)  # (B, h, n, c, d + d_v)
    W, U = WU.split([K.shape[-1], V.shape[-1]], dim=-1)
    QK = (Q @ K.transpose(-1, -2)) * causal  # q_tᵀ k_i for i <= t
    out = _carry_state(Q, K, W, U, QK)  # (B, h, n, c, d_v)
    return out.flatten(2, 3)[:, :, :T]


def _carry_state(Q: Tensor, K: Tensor, W: Tensor, U: Tensor, QK: Tensor) -> Tensor:
    """The chunk-to-chunk recurrence of :func:`delta_rule_chunked`.

    Args:
        Q, K, W: ``(B, h, n, c, d)``; U: ``(B, h, n, c, d_v)``; QK: ``(B, h, n, c, c)``, the
        causal (lower triangular, diagonal included) query-key products.

    Returns:
        ``(B, h, n, c, d_v)``: the outputs of every chunk.
    """
    n = Q.shape[2]
    outs = [QK[:, :, 0] @ U[:, :, 0]]  # the first chunk starts from M = 0
    if n == 1:
        return outs[0][:, :, None]
    M = K[:, :, 0].transpose(-1, -2) @ U[:, :, 0]  # (B, h, d, d_v)
    for j in range(1, n):
        U_j = U[:, :, j] - W[:, :, j] @ M  # Ũ = U - W M
        outs.append(Q[:, :, j] @ M + QK[:, :, j] @ U_j)
        if j + 1 < n:
            M = M + K[:, :, j].transpose(-1, -2) @ U_j
    return torch.stack(outs, dim=2)


# ----------------------------------------------------------------------------- the mixer
class DeltaNetMixer(nn.Module):
    """One DeltaNet layer (without its residual and norm): ``(B, T, H) -> (B, T, H)``.

    Args:
        hidden_size: H.
        num_heads: number of heads; must divide H.
        eigenvalues: ``"positive"`` (β ∈ (0, 1)) or ``"negative"`` (β ∈ (0, 2)).
        chunk_size: steps per chunk of the parallel form.
    """

    def __init__(self, hidden_size: int, num_heads: int = 4, eigenvalues: str = "positive",
                 chunk_size: int = 64) -> None:
        super().__init__()
        H, heads = _check_options(hidden_size, num_heads, eigenvalues, chunk_size)
        self.hidden_size, self.num_heads, self.head_size = H, heads, H // heads
        self.eigenvalues = eigenvalues
        self.chunk_size = chunk_size
        self.q_proj = haiku_linear(H, H, bias=False)
        self.k_proj = haiku_linear(H, H, bias=False)
        self.v_proj = haiku_linear(H, H, bias=False)
        self.beta_proj = haiku_linear(H, heads)
        self.out_norm_weight = nn.Parameter(torch.ones(self.head_size))  # shared by heads
        self.out_proj = haiku_linear(H, H, bias=False)

    def _heads(self, x: Tensor) -> Tensor:
        """``(B, T, H) -> (B, heads, T, d)``."""
        return x.unflatten(-1, (self.num_heads, self.head_size)).transpose(1, 2)

    def beta(self, u: Tensor) -> Tensor:
        """Write strengths ``(B, heads, T)`` for ``u (B, T, H)``: in (0, 1) or (0, 2)."""
        b = torch.sigmoid(self.beta_proj(u)).transpose(1, 2)
        return 2 * b if self.eigenvalues == "negative" else b

    def forward(self, u: Tensor, parallel: bool = True) -> Tensor:
        """``u (B, T, H) -> (B, T, H)``; ``parallel=False`` runs the token-by-token loop."""
        q = F.normalize(self._heads(F.silu(self.q_proj(u))), dim=-1)  # (B, heads, T, d)
        k = F.normalize(self._heads(F.silu(self.k_proj(u))), dim=-1)
        v = self._heads(self.v_proj(u))
        beta = self.beta(u)  # (B, heads, T)
        if parallel:
            o = delta_rule_chunked(q, k, v, beta, self.chunk_size)
        else:
            o = delta_rule_ref(q, k, v, beta)
        return self.out_proj(self.out_norm(o).transpose(1, 2).flatten(2))  # (B, T, H)

    def out_norm(self, o: Tensor, eps: float = 1e-6) -> Tensor:
        """RMSNorm of every head's output ``o (B, heads, T, d)`` over ``d``."""
        return o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + eps) * self.out_norm_weight


class DeltaNet(ResidualStackCore):
    """DeltaNet benchmark core: ``num_layers`` :class:`DeltaNetMixer` layers in the residual
    stack.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        hidden_size: H.
        num_layers: L.
        num_heads: heads per layer (must divide H).
        eigenvalues: ``"positive"`` or ``"negative"`` (β ∈ (0, 2), Grazzi et al. 2024).
        chunk_size: steps per chunk of the parallel (chunkwise) form.

    ``forward(x (B, S, V'), input_length=None, parallel=True) -> logits (B, S, C)``.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2, num_heads: int = 4, eigenvalues: str = "positive",
                 chunk_size: int = 64) -> None:
        _check_positive_int("num_layers", num_layers)
        _check_options(hidden_size, num_heads, eigenvalues, chunk_size)
        super().__init__(input_size, output_size, hidden_size, num_layers,
                         lambda _: DeltaNetMixer(hidden_size, num_heads, eigenvalues,
                                                 chunk_size))
