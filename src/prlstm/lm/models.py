"""Three character LMs with one interface: ``logits = model(ids)`` and exact generation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from prlstm.layer import PRLSTM
from prlstm.lm.data import VOCAB

MODELS = ("pr_lstm", "lstm", "transformer")


class CharLM(nn.Module):
    """Embedding -> core -> LayerNorm -> Linear(256).

    Args:
        kind: ``"pr_lstm"`` (:class:`~prlstm.PRLSTM`), ``"lstm"`` (``nn.LSTM``) or
            ``"transformer"`` (pre-LN causal encoder with learned positions).
        emb: embedding width (the Transformer's model width).
        hidden: recurrent state size (ignored by the Transformer, whose width is ``emb``).
        layers: stacked layers; heads, ff: Transformer only; max_len: its positions.
        refinements: PR-LSTM's R.
    """

    def __init__(self, kind: str, emb: int, hidden: int, layers: int = 1, heads: int = 4,
                 ff: int = 384, max_len: int = 128, refinements: int = 1) -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {kind!r}")
        self.kind, self.max_len = kind, max_len
        self.embed = nn.Embedding(VOCAB, emb)
        if kind == "pr_lstm":
            self.core: nn.Module = PRLSTM(emb, hidden, refinements=refinements,
                                          num_layers=layers)
            width = hidden
        elif kind == "lstm":
            self.core = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            width = hidden
        else:
            self.pos = nn.Embedding(max_len, emb)
            block = nn.TransformerEncoderLayer(emb, heads, ff, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.core = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            width = emb
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB)

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` ``(B, T)`` -> logits ``(B, T, 256)`` (causal)."""
        x = self.embed(ids)
        if self.kind == "transformer":
            T = ids.shape[1]
            if T > self.max_len:
                raise ValueError(f"the Transformer has {self.max_len} positions, got T={T}")
            x = x + self.pos(torch.arange(T, device=ids.device))
            mask = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device)
            h = self.core(x, mask=mask, is_causal=True)
        else:
            h = self.core(x)[0]
        return self.head(self.norm(h))

    def _logits(self, h: Tensor) -> Tensor:
        return self.head(self.norm(h))

    @torch.no_grad()
    def generate(self, prompt: Tensor, n: int, temperature: float = 1.0,
                 gen: torch.Generator | None = None) -> Tensor:
        """Sample ``n`` bytes after ``prompt`` ``(B, T0)``; returns ``(B, n)``.

        PR-LSTM: one parallel ``prefill`` then one exact ``step`` per byte. LSTM: its own
        ``(h, c)`` loop. Transformer: a full forward over the last ``max_len`` bytes per byte.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        out = []

        def pick(logits: Tensor) -> Tensor:  # (B, V) -> (B,)
            if temperature == 0:
                return logits.argmax(-1)
            probs = torch.softmax(logits / temperature, dim=-1)
            return torch.multinomial(probs, 1, generator=gen)[:, 0]

        if self.kind == "pr_lstm":
            h, state = self.core.prefill(self.embed(prompt))
            tok = pick(self._logits(h[:, -1]))
            for _ in range(n):
                out.append(tok)
                h_t, state = self.core.step(self.embed(tok), state)
                tok = pick(self._logits(h_t))
        elif self.kind == "lstm":
            h, hc = self.core(self.embed(prompt))
            tok = pick(self._logits(h[:, -1]))
            for _ in range(n):
                out.append(tok)
                h, hc = self.core(self.embed(tok)[:, None], hc)
                tok = pick(self._logits(h[:, -1]))
        else:
            seq = prompt
            for _ in range(n):
                tok = pick(self(seq[:, -self.max_len:])[:, -1])
                out.append(tok)
                seq = torch.cat([seq, tok[:, None]], dim=1)
        return torch.stack(out, dim=1)


def num_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
