"""A small user model, as a plugin author would write it (used by the plugin tests)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TinyGRU(nn.Module):
    """``(B, S, input_size) -> (B, S, output_size)`` with one ``nn.GRU``."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 8) -> None:
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        return self.head(self.gru(x)[0])


def build(input_size: int, output_size: int, hidden_size: int = 8, bias_init: float = 0.0
          ) -> nn.Module:
    """A one-layer GRU and a linear head."""
    model = TinyGRU(input_size, output_size, hidden_size)
    nn.init.constant_(model.head.bias, bias_init)
    return model


def build_any(input_size: int, output_size: int, **options: object) -> nn.Module:
    """Takes any options (ignores them)."""
    return TinyGRU(input_size, output_size)


def not_a_module(input_size: int, output_size: int) -> int:
    return 3


def wrong_shape(input_size: int, output_size: int) -> nn.Module:
    return nn.Linear(input_size, output_size + 1)


class _NaN(nn.Module):
    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.lin = nn.Linear(input_size, output_size)

    def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
        return self.lin(x) * torch.tensor(float("nan"))


def nan_model(input_size: int, output_size: int) -> nn.Module:
    return _NaN(input_size, output_size)


def crashes(input_size: int, output_size: int) -> nn.Module:
    class Broken(nn.Module):
        def forward(self, x: Tensor, input_length: int | None = None) -> Tensor:
            raise RuntimeError("boom")

    return Broken()


NOT_CALLABLE = 42
