"""Three character LMs with one interface: ``logits = model(ids)`` and exact generation.

:class:`CharLMConfig` is the whole model configuration, validated once when it is built;
:class:`CharLM` builds the model it describes. PR-LSTM is the package's LM backbone
(:class:`~prlstm.lm.backbone.PRLSTMModel`, the one :mod:`prlstm.hf` uses too) plus a head;
``nn.LSTM`` and the Transformer are embedding -> core -> LayerNorm -> head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NoReturn

import torch
from torch import Tensor, nn

from prlstm.lm.backbone import PRLSTMModel
from prlstm.lm.data import VOCAB

MODELS = ("pr_lstm", "lstm", "transformer")

#: Default sizes per model (about 0.3M parameters each).
DEFAULT_SIZES: dict[str, dict[str, int]] = {
    "pr_lstm": {"embedding_size": 64, "hidden_size": 128, "num_layers": 1},
    "lstm": {"embedding_size": 64, "hidden_size": 224, "num_layers": 1},
    "transformer": {"embedding_size": 96, "hidden_size": 0, "num_layers": 2},
}

#: Names older configs, checkpoints and flags used -> the shared vocabulary of ``prlstm.lm``,
#: ``prlstm.hf`` and the benchmark models.
LEGACY_NAMES = {"emb": "embedding_size", "hidden": "hidden_size", "layers": "num_layers",
                "heads": "num_heads", "ff": "ff_size", "batch": "batch_size",
                "eval_every": "val_every"}

_MAX = 65_536  # widths; a config (or a checkpoint's) is checked before anything is allocated


@dataclass(frozen=True)
class CharLMConfig:
    """The LM demo's model, one field per choice (validated once, when it is built)."""

    model: str = "pr_lstm"  # "pr_lstm" (the PR-LSTM backbone), "lstm", "transformer"
    vocab_size: int = VOCAB  # token ids: bytes
    embedding_size: int = 64  # token embedding width; the Transformer's model width
    hidden_size: int = 128  # recurrent state size; unused by the Transformer (0 allowed)
    num_layers: int = 1  # stacked layers
    refinements: int = 1  # PR-LSTM's R
    num_heads: int = 4  # Transformer: attention heads (must divide embedding_size)
    ff_size: int = 384  # Transformer: feed-forward width
    max_len: int = 128  # Transformer: learned positions, the longest input it takes

    def __post_init__(self) -> None:
        def refuse(name: str, expected: str) -> NoReturn:
            raise ValueError(f"CharLMConfig.{name}: expected {expected}, got "
                             f"{getattr(self, name)!r}")

        if self.model not in MODELS:
            refuse("model", f"one of {MODELS}")
        attention = self.model == "transformer"
        limits = {"vocab_size": (1, 1 << 24), "embedding_size": (1, _MAX),
                  "hidden_size": (0 if attention else 1, _MAX), "num_layers": (1, 1024),
                  "refinements": (0, 64), "num_heads": (1, 1024), "ff_size": (1, _MAX),
                  "max_len": (1, 10**6)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                refuse(name, f"an int in [{low}, {high:,}]")
        if attention and self.embedding_size % self.num_heads:
            refuse("embedding_size", f"a multiple of num_heads={self.num_heads} (the "
                   f"Transformer's width)")

    @classmethod
    def for_model(cls, model: str, **given: Any) -> CharLMConfig:
        """``model``'s :data:`DEFAULT_SIZES`, overridden by each given size that is not 0 or
        None; other fields as given. Older names (``emb``, ``hidden``, ``layers``, ``heads``,
        ``ff``) are accepted for the same fields."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = dict(DEFAULT_SIZES.get(model, {}))
        for name, value in given.items():
            name = LEGACY_NAMES.get(name, name)
            if name not in known or name == "model":
                raise TypeError(f"CharLMConfig has no field {name!r}; fields: {sorted(known)}")
            default = value is None or (type(value) is int and value == 0)
            if not default or name not in DEFAULT_SIZES["pr_lstm"]:
                values[name] = value
        return cls(model=model, **values)


def canonical_names(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with older names (:data:`LEGACY_NAMES`) replaced by the shared ones."""
    return {LEGACY_NAMES.get(k, k): v for k, v in config.items()}


class CharLM(nn.Module):
    """Embedding -> core -> LayerNorm -> Linear(vocab): the model a :class:`CharLMConfig`
    describes.

    ``CharLM(config)``; ``CharLM("pr_lstm", emb=64, hidden=128, layers=1, ...)`` (a model name
    and sizes, 0 meaning the default) builds ``CharLMConfig.for_model(...)``. With
    ``model="pr_lstm"`` the weights are ``model.*`` (the backbone) and ``head.*``; state dicts
    of the earlier layout (``embed.*``, ``core.*``, ``norm.*``) load unchanged.
    """

    def __init__(self, config: CharLMConfig | str = "pr_lstm", **sizes: Any) -> None:
        super().__init__()
        if not isinstance(config, CharLMConfig):
            config = CharLMConfig.for_model(config, **sizes)
        elif sizes:
            raise TypeError(f"CharLM takes a CharLMConfig or a model name with sizes, not "
                            f"both (got {sorted(sizes)})")
        self.config = c = config
        if c.model == "pr_lstm":
            self.model = PRLSTMModel(c.vocab_size, c.hidden_size,
                                     embedding_size=c.embedding_size, num_layers=c.num_layers,
                                     refinements=c.refinements)
            self.register_load_state_dict_pre_hook(_upgrade_pr_lstm_keys)
            width = c.hidden_size
        else:
            self.embed = nn.Embedding(c.vocab_size, c.embedding_size)
            if c.model == "lstm":
                self.core: nn.Module = nn.LSTM(c.embedding_size, c.hidden_size,
                                               num_layers=c.num_layers, batch_first=True)
                width = c.hidden_size
            else:
                self.pos = nn.Embedding(c.max_len, c.embedding_size)
                block = nn.TransformerEncoderLayer(c.embedding_size, c.num_heads, c.ff_size,
                                                   dropout=0.0, batch_first=True,
                                                   norm_first=True)
                self.core = nn.TransformerEncoder(block, c.num_layers,
                                                  enable_nested_tensor=False)
                width = c.embedding_size
            self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, c.vocab_size)

    @property
    def kind(self) -> str:
        """The model's name (``config.model``)."""
        return self.config.model

    @property
    def max_len(self) -> int:
        """The Transformer's positions (``config.max_len``)."""
        return self.config.max_len

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` ``(B, T)`` -> logits ``(B, T, vocab_size)`` (causal)."""
        if self.kind == "pr_lstm":
            return self.head(self.model(input_ids=ids).last_hidden_state)
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

    @torch.no_grad()
    def generate(self, prompt: Tensor, n: int, temperature: float = 1.0,
                 gen: torch.Generator | None = None) -> Tensor:
        """Sample ``n`` bytes after ``prompt`` ``(B, T0)``; returns ``(B, n)``.

        PR-LSTM: one parallel prefill of the prompt (the backbone with ``use_cache``), then
        one exact ``step`` per byte through the cache. LSTM: its own ``(h, c)`` loop.
        Transformer: a full forward over the last ``max_len`` bytes per byte.
        """
        if isinstance(temperature, bool) or not 0 <= temperature < math.inf:
            raise ValueError(f"temperature: expected a finite number >= 0, got {temperature!r}")
        out = []

        def pick(logits: Tensor) -> Tensor:  # (B, V) -> (B,)
            if temperature == 0:
                return logits.argmax(-1)
            probs = torch.softmax(logits / temperature, dim=-1)
            return torch.multinomial(probs, 1, generator=gen)[:, 0]

        if self.kind == "pr_lstm":
            o = self.model(input_ids=prompt, use_cache=True)
            for i in range(n):
                tok = pick(self.head(o.last_hidden_state[:, -1]))
                out.append(tok)
                if i + 1 < n:
                    o = self.model(input_ids=tok[:, None], cache=o.cache, use_cache=True)
        elif self.kind == "lstm":
            h, hc = self.core(self.embed(prompt))
            for i in range(n):
                tok = pick(self.head(self.norm(h[:, -1])))
                out.append(tok)
                if i + 1 < n:
                    h, hc = self.core(self.embed(tok)[:, None], hc)
        else:
            seq = prompt
            for _ in range(n):
                tok = pick(self(seq[:, -self.max_len:])[:, -1])
                out.append(tok)
                seq = torch.cat([seq, tok[:, None]], dim=1)
        return torch.stack(out, dim=1)


# The PR-LSTM model's state-dict keys before it used the shared backbone -> now.
_PR_LSTM_KEYS = (("embed.", "model.embed."), ("core.", "model.layer."), ("norm.", "model.norm."))


def _upgrade_pr_lstm_keys(module: nn.Module, state_dict: dict[str, Tensor], prefix: str,
                          *_: Any) -> None:
    """A load-state-dict pre-hook: rename the earlier PR-LSTM keys in place."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in _PR_LSTM_KEYS:
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
                break


def num_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
