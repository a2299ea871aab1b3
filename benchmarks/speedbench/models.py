"""The models ``speed.py`` times: ``forward(x (B, T, 3)) -> logits (B, T, 2)``, untrained."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prlstm import PRLSTM
from prlstm.ops import BACKENDS

D_IN, CLASSES = 3, 2  # one-hot width (parity_check: 2 symbols + empty), output classes


class PRNet(nn.Module):
    """``PRLSTM`` + ``Linear(relu(h_t))``: ``forward(x (B, T, D)) -> logits (B, T, C)``.

    ``backend`` is a layer backend, or ``"triton-c<C>"``: the Triton scan with the chunk
    kernels of chunk size ``C`` in its forward (called directly; the layer does not expose it).
    """

    def __init__(self, hidden: int, refinements: int, backend: str) -> None:
        super().__init__()
        self.chunk = 0
        if backend.startswith("triton-c"):
            self.chunk = int(backend.removeprefix("triton-c"))
            backend = "triton"
        elif backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} or 'triton-c<C>', "
                             f"got {backend!r}")
        self.pr = PRLSTM(D_IN, hidden, refinements=refinements,
                         backend="levelwise" if self.chunk else backend)
        self.readout = nn.Linear(hidden, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        if self.chunk:
            from prlstm.ops import triton as tri

            if not tri.available():
                raise RuntimeError("pr_lstm:triton-c<C> needs triton and a CUDA device "
                                   "(or TRITON_INTERPRET=1)")
            cell = self.pr.layers[0]
            h = tri.scan(tri.make_combine(cell, self.chunk), cell.leaf_state(x))[0][0]
        else:
            h, _ = self.pr(x)
        return self.readout(torch.relu(h))


class LSTMNet(nn.Module):
    """``nn.LSTM`` (cuDNN on CUDA) + ``Linear``: ``(B, T, D) -> (B, T, C)``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(D_IN, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.lstm(x)[0])


class TransformerNet(nn.Module):
    """The project's transformer core (``prlstm.models``) or, if missing, a plain encoder."""

    def __init__(self) -> None:
        super().__init__()
        try:
            from prlstm import models

            self.core: nn.Module = models.build("transformer", D_IN - 1, CLASSES).core
            self.source = "prlstm.models.build('transformer')"
        except Exception:  # noqa: BLE001 - the colleague's module may not exist yet
            layer = nn.TransformerEncoderLayer(64, 8, 256, batch_first=True)
            self.core = nn.Sequential(nn.Linear(D_IN, 64), nn.TransformerEncoder(layer, 5),
                                      nn.Linear(64, CLASSES))
            self.source = "nn.TransformerEncoder(5 layers, d=64, 8 heads, ff=256) fallback"

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.core, nn.Sequential):
            return self.core(x)
        return self.core(x, input_length=x.shape[1])


def make_model(name: str, hidden: int, refinements: int, device: torch.device) -> nn.Module:
    """``pr_lstm:<backend>``, ``lstm`` or ``transformer`` on ``device``."""
    if name.startswith("pr_lstm:"):
        model: nn.Module = PRNet(hidden, refinements, name.split(":", 1)[1])
    elif name == "lstm":
        model = LSTMNet(hidden)
    elif name == "transformer":
        model = TransformerNet()
    else:
        raise ValueError(f"unknown model {name!r}")
    return model.to(device)


# Backends that loop over positions in Python: E5 times their forward (its 500 ms cutoff ends
# their curves early); training steps and training memory skip them.
LOOP_BACKENDS = ("pr_lstm:reference", "pr_lstm:streaming")


def default_models(device: torch.device) -> list[str]:
    """PR-LSTM per usable backend (triton only on CUDA), nn.LSTM, the transformer."""
    names = ["pr_lstm:levelwise", "pr_lstm:chunked", *LOOP_BACKENDS]
    if device.type == "cuda":
        from prlstm.ops import triton as tri

        if tri.available():
            names.append("pr_lstm:triton")
    return [*names, "lstm", "transformer"]


def with_chunk_models(models: list[str], chunk: int) -> list[str]:
    """``models`` plus ``pr_lstm:triton-c<chunk>`` after ``pr_lstm:triton`` (E5 only)."""
    if not chunk or "pr_lstm:triton" not in models:
        return models
    extra = f"pr_lstm:triton-c{chunk}"
    return models if extra in models else [*models, extra]
