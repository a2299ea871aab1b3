"""Minimal gated RNNs and a diagonal linear RNN as mixers of :class:`ResidualStackCore`.

Three baselines whose recurrences are linear in the state (hence parallel over time). Every
mixer maps ``h (B, S, H) -> (B, S, H)``: one Linear ``H -> k·H`` makes the per-step
quantities, the recurrence runs over a state of width ``H`` from ``h_0 = 0`` (no expansion),
and a Linear ``H -> H`` projects the states back onto the residual stream. All Linears use the
Haiku initialisation of :func:`~prlstm.models.protocol.haiku_linear` (zero biases).

- ``mingru`` (Feng et al. 2024, "Were RNNs All We Needed?", minGRU)::

      z_t = σ(W_z x_t),  h̃_t = g(W_h x_t),  h_t = (1 − z_t) h_{t−1} + z_t h̃_t

  with ``g(v) = v + 1/2`` for ``v ≥ 0`` and ``σ(v)`` for ``v < 0`` (positive, so that the
  scan can run in log space).
- ``minlstm`` (same paper, minLSTM, length-independent normalisation)::

      f_t = σ(W_f x_t),  i_t = σ(W_i x_t),  h̃_t = g(W_h x_t),
      h_t = f_t / (f_t + i_t) · h_{t−1} + i_t / (f_t + i_t) · h̃_t

- ``linear_rnn`` (Grazzi et al. 2024, "Unlocking State-Tracking in Linear RNNs Through
  Negative Eigenvalues"): a diagonal, input-dependent linear recurrence with a Mamba-style
  multiplicative output gate::

      a_t = σ(W_a x_t) ∈ (0, 1)            (eigenvalues="positive")
      a_t = 2σ(W_a x_t) − 1 ∈ (−1, 1)      (eigenvalues="negative")
      h_t = a_t ⊙ h_{t−1} + W_b x_t,       y_t = W_o (h_t ⊙ silu(W_g x_t))

  The input term is not tied to ``a_t`` (as in Mamba, where ``Δ B x`` is independent of the
  decay): tying it as ``(1 − |a_t|) ⊙ v_t`` would cut the input off exactly where ``|a_t| → 1``,
  the regime that counting and parity need. The negative range is the paper's remedy: a
  diagonal linear RNN with multipliers in ``[0, 1]`` cannot solve parity at any finite depth
  and length, one with multipliers in ``[−1, 1]`` can.

``parallel=True`` evaluates minGRU / minLSTM with the paper's log-space scan (Heinsen's
cumulative logsumexp, :func:`log_space_scan`, in the input dtype) and the linear RNN with
:func:`prlstm.models.scan.linear_scan` (logarithms cannot represent negative multipliers);
``parallel=False`` runs the step-by-step recurrence, the definition the parallel forms are
tested against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models.blocks import ResidualStackCore
from prlstm.models.protocol import haiku_linear
from prlstm.models.scan import linear_scan, log_cumsum_exp

#: The ranges of the linear RNN's multipliers ``a_t``.
EIGENVALUES = ("positive", "negative")


# ----------------------------------------------------------------------------- scans
def g(v: Tensor) -> Tensor:
    """minGRU's positive activation: ``v + 1/2`` for ``v ≥ 0``, ``σ(v)`` otherwise."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """``log g(v)``, accurate for large ``|v|``.

    ``log σ`` is :func:`torch.nn.functional.logsigmoid` throughout this module, not
    ``−softplus(−v)``: PyTorch's softplus returns its input above a threshold (20), a relative
    error of up to ``e^−20`` in the result (harmless in the scans, but avoidable)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), F.logsigmoid(v))


def log_space_scan(log_a: Tensor, log_b: Tensor) -> Tensor:
    """States of ``h_t = a_t h_{t−1} + b_t`` from ``h_0 = 0`` for ``a_t, b_t > 0`` given as logs.

    With ``A_t = a_1 ⋯ a_t``, ``h_t = A_t Σ_{s≤t} b_s / A_s``, so
    ``log h_t = log A_t + logcumsumexp_s(log b_s − log A_s)`` (Heinsen 2023): a cumulative sum
    and a cumulative logsumexp along dim 1 (:func:`~prlstm.models.scan.log_cumsum_exp`, in
    O(log T) rounds), with no products that under- or overflow.

    Args:
        log_a: ``(B, T, D)`` log-multipliers.
        log_b: ``(B, T, D)`` log-offsets.

    Returns:
        ``(B, T, D)``: ``h_1 … h_T``.
    """
    log_A = torch.cumsum(log_a, dim=1)  # (B, T, D)
    return torch.exp(log_A + log_cumsum_exp(log_b - log_A))


def _loop(step: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
    """``h_t = step(h_{t−1}, u_t, v_t, …)`` from ``h_0 = 0`` for ``inputs`` ``(B, T, D)`` each.

    Returns ``(B, T, D)``: ``h_1 … h_T``."""
    h = torch.zeros_like(inputs[0][:, 0])  # (B, D)
    out = []
    # unbind once: indexing [:, t] per step would make the backward pass O(T²)
    for u_t in zip(*(u.unbind(1) for u in inputs), strict=True):
        h = step(h, *u_t)
        out.append(h)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------- mixers
class _Mixer(nn.Module):
    """``in_proj: H -> parts·H``, a recurrence over width H, ``out_proj: H -> H``."""

    parts = 1

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.in_proj = haiku_linear(hidden_size, self.parts * hidden_size)
        self.out_proj = haiku_linear(hidden_size, hidden_size)

    def projections(self, h: Tensor) -> tuple[Tensor, ...]:
        """``h (B, S, H)`` -> ``parts`` pre-activations, each ``(B, S, H)``."""
        return self.in_proj(h).chunk(self.parts, dim=-1)


class MinGRUMixer(_Mixer):
    """minGRU over a state of width H (Feng et al. 2024); see the module docstring."""

    parts = 2

    def states(self, h: Tensor, parallel: bool = True) -> Tensor:
        """The recurrent states ``(B, S, H)`` for the (normed) stream ``h (B, S, H)``."""
        k, v = self.projections(h)  # gate and candidate pre-activations, (B, S, H) each
        if parallel:
            # log(1 − z) = log σ(−k), log z = log σ(k)
            return log_space_scan(F.logsigmoid(-k), F.logsigmoid(k) + log_g(v))
        z, h_tilde = torch.sigmoid(k), g(v)
        return _loop(lambda s, z_t, c_t: (1 - z_t) * s + z_t * c_t, z, h_tilde)

    def forward(self, h: Tensor, parallel: bool = True) -> Tensor:
        """``(B, S, H) -> (B, S, H)``, causal."""
        return self.out_proj(self.states(h, parallel))


class MinLSTMMixer(_Mixer):
    """minLSTM over a state of width H (Feng et al. 2024); see the module docstring."""

    parts = 3

    def states(self, h: Tensor, parallel: bool = True) -> Tensor:
        """The recurrent states ``(B, S, H)`` for the (normed) stream ``h (B, S, H)``."""
        kf, ki, v = self.projections(h)  # (B, S, H) each
        if parallel:
            # d = log(i/f) = log σ(ki) − log σ(kf); then f' = σ(−d), i' = σ(d)
            d = F.logsigmoid(ki) - F.logsigmoid(kf)
            return log_space_scan(F.logsigmoid(-d), F.logsigmoid(d) + log_g(v))
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        return _loop(lambda s, f_t, i_t, c_t: f_t * s + i_t * c_t, f / (f + i), i / (f + i), g(v))

    def forward(self, h: Tensor, parallel: bool = True) -> Tensor:
        """``(B, S, H) -> (B, S, H)``, causal."""
        return self.out_proj(self.states(h, parallel))


def _check_eigenvalues(eigenvalues: str) -> str:
    if eigenvalues not in EIGENVALUES:
        raise ValueError(f"eigenvalues must be one of {EIGENVALUES}, got {eigenvalues!r}")
    return eigenvalues


class LinearRNNMixer(_Mixer):
    """Diagonal input-dependent linear RNN with an output gate (Grazzi et al. 2024).

    Args:
        hidden_size: H (also the state width).
        eigenvalues: ``"positive"``: ``a_t ∈ (0, 1)``; ``"negative"``: ``a_t ∈ (−1, 1)``.

    ``in_proj`` makes the pre-activations ``(k_a, b, k_gate)`` in that order.
    """

    parts = 3

    def __init__(self, hidden_size: int, eigenvalues: str = "positive") -> None:
        super().__init__(hidden_size)
        self.eigenvalues = _check_eigenvalues(eigenvalues)

    def _multipliers(self, k: Tensor) -> Tensor:
        """``a_t`` from its pre-activation ``k (B, S, H)``."""
        if self.eigenvalues == "negative":
            return torch.tanh(0.5 * k)  # = 2σ(k) − 1, without cancellation near 0
        return torch.sigmoid(k)

    def multipliers(self, h: Tensor) -> Tensor:
        """The diagonal transition ``a_t``, ``(B, S, H)``, for the stream ``h (B, S, H)``."""
        return self._multipliers(self.projections(h)[0])

    def scan(self, a: Tensor, b: Tensor, parallel: bool) -> Tensor:
        """``h_t = a_t ⊙ h_{t−1} + b_t`` from ``h_0 = 0``; ``(B, S, H)`` each."""
        if parallel:
            return linear_scan(a, b)
        return _loop(lambda s, a_t, b_t: a_t * s + b_t, a, b)

    def forward(self, h: Tensor, parallel: bool = True) -> Tensor:
        """``(B, S, H) -> (B, S, H)``, causal."""
        k, b, k_gate = self.projections(h)  # (B, S, H) each
        states = self.scan(self._multipliers(k), b, parallel)  # (B, S, H)
        return self.out_proj(states * F.silu(k_gate))


# ----------------------------------------------------------------------------- cores
class MinGRU(ResidualStackCore):
    """Residual stack of :class:`MinGRUMixer` layers with the benchmark embedding/readout.

    Args:
        input_size: V', width of the one-hot inputs.
        output_size: C.
        hidden_size: H, width of the residual stream and of every recurrent state.
        num_layers: L.

    ``forward(x (B, S, V'), input_length=None, parallel=True) -> logits (B, S, C)``.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2) -> None:
        super().__init__(input_size, output_size, hidden_size, num_layers,
                         lambda _: MinGRUMixer(hidden_size))


class MinLSTM(ResidualStackCore):
    """Residual stack of :class:`MinLSTMMixer` layers; arguments as :class:`MinGRU`."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2) -> None:
        super().__init__(input_size, output_size, hidden_size, num_layers,
                         lambda _: MinLSTMMixer(hidden_size))


class LinearRNN(ResidualStackCore):
    """Residual stack of :class:`LinearRNNMixer` layers; arguments as :class:`MinGRU`, plus
    ``eigenvalues``: ``"positive"`` (``a_t ∈ (0, 1)``) or ``"negative"`` (``a_t ∈ (−1, 1)``).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2, eigenvalues: str = "positive") -> None:
        eigenvalues = _check_eigenvalues(eigenvalues)
        super().__init__(input_size, output_size, hidden_size, num_layers,
                         lambda _: LinearRNNMixer(hidden_size, eigenvalues))
        self.eigenvalues = eigenvalues
