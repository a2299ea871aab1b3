"""``PRLSTMConfig``: every hyper-parameter of :class:`~prlstm.hf.PRLSTMForCausalLM`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from transformers import PreTrainedConfig

from prlstm.cells import CELLS
from prlstm.ops import BACKENDS, SCHEDULES

# Keys the base class itself consumes from ``**kwargs`` (legacy names, loading metadata);
# anything else is a misspelt or foreign field and is refused.
_BASE_KWARGS = {
    "torch_dtype", "num_labels", "name_or_path", "_commit_hash", "output_attentions",
    "attn_implementation", "experts_implementation", "per_layer_config",
    "_attn_implementation_internal", "_experts_implementation_internal", "use_return_dict",
}


class PRLSTMConfig(PreTrainedConfig):
    """Configuration of a PR-LSTM causal LM (keyword-only; unknown fields raise).

    Args:
        vocab_size: number of token ids.
        hidden_size: H, the PR layers' state size.
        embedding_size: token embedding width (default: ``hidden_size``); when it differs,
            a ``readout`` linear maps H to it before the LM head.
        num_hidden_layers: stacked PR layers.
        cell: ``"lstm"``, ``"rnn"`` or ``"gru"``; refinements: R (0 for gru).
        schedule: ``"tree"`` or ``"sequential"``; backend: the layer's scan backend.
        bias: linear maps with biases; dropout: between PR layers and on the embeddings.
        layer_norm_eps: of the final LayerNorm; initializer_range: std of the embedding.
        tie_word_embeddings: share the embedding with the LM head.
    """

    model_type = "prlstm"

    vocab_size: int = 256
    hidden_size: int = 256
    embedding_size: int | None = None
    num_hidden_layers: int = 2
    cell: str = "lstm"
    refinements: int = 1
    schedule: str = "tree"
    backend: str = "auto"
    bias: bool = True
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        model_type = kwargs.pop("model_type", self.model_type)
        if model_type != self.model_type:
            raise ValueError(f"PRLSTMConfig has model_type {self.model_type!r}, got a config "
                             f"of model_type {model_type!r}")
        unknown = sorted(k for k in kwargs if k not in _BASE_KWARGS)
        if unknown:
            known = sorted(f.name for f in fields(self) if not f.name.startswith("_"))
            raise ValueError(f"PRLSTMConfig got unknown field(s) {unknown}; known fields: "
                             f"{known}")
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size
        for name in ("vocab_size", "hidden_size", "embedding_size", "num_hidden_layers"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.refinements, int) or isinstance(self.refinements, bool) \
                or self.refinements < 0:
            raise ValueError(f"refinements must be an int >= 0, got {self.refinements!r}")
        for name, choices in (("cell", CELLS), ("schedule", SCHEDULES),
                              ("backend", ("auto", *BACKENDS))):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if self.cell == "gru" and self.refinements:
            raise ValueError(f"cell='gru' needs refinements=0, got {self.refinements}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")
        for name in ("layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive float, got {value!r}")
        for name in ("bias", "tie_word_embeddings", "use_cache"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            ids = value if isinstance(value, list) else [value]
            for i in ids:
                if i is not None and (not isinstance(i, int) or isinstance(i, bool)
                                      or not 0 <= i < self.vocab_size):
                    raise ValueError(f"{name} must be None or an id in [0, vocab_size="
                                     f"{self.vocab_size}), got {value!r}")
        super().__post_init__(**kwargs)


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
