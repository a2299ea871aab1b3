"""The residual stack shared by the sequence-mixer baselines (mingru, mamba, deltanet, …).

A *mixer* maps ``(B, S, H) -> (B, S, H)`` causally and takes ``parallel=`` (``True``: its
parallel / chunked form; ``False``: its step-by-step recurrence, the definition the parallel
form is tested against). :class:`ResidualStackCore` puts ``num_layers`` mixers in the usual
pre-norm residual stack and adds the benchmark's input embedding and readout::

    h = embed(x)                                # (B, S, V') -> (B, S, H)
    h = h + mixer_l(norm_l(h))   for l = 1..L   # pre-norm residual blocks
    logits = readout(final_norm(h))             # (B, S, C)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear


class ResidualStackCore(nn.Module):
    """``embed -> L x (h + mixer(norm(h))) -> norm -> Linear`` over one-hot inputs.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C.
        hidden_size: H, the residual stream's width.
        num_layers: L >= 1.
        make_mixer: ``make_mixer(layer_index) -> nn.Module`` with
            ``forward(h (B, S, H), parallel: bool = True) -> (B, S, H)``.

    ``forward(x (B, S, V'), input_length=None) -> logits (B, S, C)``.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int, num_layers: int,
                 make_mixer: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embed = haiku_linear(input_size, hidden_size)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))
        self.mixers = nn.ModuleList(make_mixer(i) for i in range(num_layers))
        self.final_norm = nn.LayerNorm(hidden_size)
        self.readout = haiku_linear(hidden_size, output_size)

    def hidden(self, x: Tensor, parallel: bool = True) -> Tensor:
        """The normalised residual stream ``(B, S, H)`` for inputs ``x (B, S, V')``."""
        h = self.embed(x)  # (B, S, H)
        for norm, mixer in zip(self.norms, self.mixers, strict=True):
            h = h + mixer(norm(h), parallel=parallel)
        return self.final_norm(h)

    def forward(self, x: Tensor, input_length: int | None = None,
                parallel: bool = True) -> Tensor:
        """Logits ``(B, S, C)`` at every position."""
        return self.readout(self.hidden(x, parallel=parallel))
