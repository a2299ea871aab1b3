"""``PRLSTMConfig``: every hyper-parameter of :class:`~prlstm.hf.PRLSTMForCausalLM`."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any, ClassVar

from transformers import PreTrainedConfig

from prlstm.cells import CELLS
from prlstm.hf.remote_code import AUTO_MAP, check_auto_map, write_remote_code
from prlstm.ops import BACKENDS, SCHEDULES

# Keys the base class itself consumes from ``**kwargs`` (legacy names, loading metadata);
# anything else is a misspelt or foreign field and is refused.
_BASE_KWARGS = {
    "torch_dtype", "num_labels", "name_or_path", "_name_or_path", "_commit_hash",
    "output_attentions",
    "attn_implementation", "experts_implementation", "per_layer_config",
    "_attn_implementation_internal", "_experts_implementation_internal", "use_return_dict",
}


class PRLSTMConfig(PreTrainedConfig):
    """Configuration of a PR-LSTM causal LM (keyword-only; unknown fields raise).

    Attributes:
        vocab_size: number of token ids.
        hidden_size: H, the PR layers' state size.
        embedding_size: token embedding width (default: ``hidden_size``); when it differs,
            a ``readout`` linear maps H to it before the LM head.
        num_layers: stacked PR layers (the name the LM demo and the benchmark models use;
            transformers' ``num_hidden_layers`` is an alias, read and written through
            ``attribute_map``, and ``config.json`` files that spell it so load unchanged).
        cell: ``"lstm"``, ``"rnn"`` or ``"gru"``; refinements: R (0 for gru).
        schedule: ``"tree"`` or ``"sequential"``; backend: the layer's scan backend.
        bias: linear maps with biases; dropout: between PR layers and on the embeddings.
        layer_norm_eps: of the final LayerNorm; initializer_range: std of the embedding.
        tie_word_embeddings: share the embedding with the LM head.

    ``config.json`` always carries prlstm's own ``auto_map`` (and :meth:`save_pretrained`
    writes the two small files it names), so ``trust_remote_code=True`` loads a checkpoint in
    a process that never imported ``prlstm.hf``; an ``auto_map`` naming any other code is
    refused (:mod:`prlstm.hf.remote_code`).
    """

    model_type = "prlstm"
    attribute_map: ClassVar[dict[str, str]] = {"num_hidden_layers": "num_layers"}
    # Trainer.evaluate / predict: the cache is not a tensor to gather.
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["cache"]

    vocab_size: int = 256
    hidden_size: int = 256
    embedding_size: int | None = None
    num_layers: int = 2
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
        check_auto_map(kwargs.pop("auto_map", None))
        spelt = self._aliases(kwargs)  # field -> the name it was given by, for errors
        unknown = sorted(k for k in kwargs if k not in _BASE_KWARGS)
        if unknown:
            known = sorted(f.name for f in fields(self) if not f.name.startswith("_"))
            raise ValueError(f"PRLSTMConfig got unknown field(s) {unknown}; known fields: "
                             f"{known}")
        if self.embedding_size is None:
            self.embedding_size = self.hidden_size
        for name in ("vocab_size", "hidden_size", "embedding_size", "num_layers"):
            _positive_int(spelt.get(name, name), getattr(self, name))
            if getattr(self, name) > MAX_SIZES[name]:  # checked before anything is allocated
                raise ValueError(f"{spelt.get(name, name)} must be at most {MAX_SIZES[name]}, "
                                 f"got {getattr(self, name)}")
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

    def _aliases(self, kwargs: dict[str, Any]) -> dict[str, str]:
        """Move an alias given as a keyword (``num_hidden_layers=``, the name older
        ``config.json`` files use) onto its field; refuse both names with different values.
        Returns field -> alias for the aliases given."""
        defaults = {f.name: f.default for f in fields(self)}
        spelt = {}
        for alias, name in self.attribute_map.items():
            if alias not in kwargs:
                continue
            value = kwargs.pop(alias)
            current = getattr(self, name)
            if current != defaults[name] and current != value:
                raise ValueError(f"PRLSTMConfig got {name}={current!r} and its alias "
                                 f"{alias}={value!r}; pass only {name}")
            setattr(self, name, value)
            spelt[name] = alias
        return spelt

    def to_dict(self) -> dict[str, Any]:
        """The fields, plus prlstm's ``auto_map`` (so every saved ``config.json`` has it)."""
        out = super().to_dict()
        out["auto_map"] = dict(AUTO_MAP)
        return out

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False,
                        **kwargs: Any) -> None:
        """``config.json`` and the ``auto_map`` files :mod:`prlstm.hf.remote_code` writes."""
        super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        write_remote_code(save_directory)

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "AutoConfig") -> None:
        """A no-op: prlstm registers itself with ``AutoConfig`` on import and writes its own
        ``auto_map``. (transformers calls this when it loads remote code; the default would
        make ``save_pretrained`` copy prlstm's source files into every checkpoint.)"""


#: Upper bounds on sizes read from a config (a config file is untrusted input).
MAX_SIZES = {"vocab_size": 1 << 24, "hidden_size": 65536, "embedding_size": 65536,
             "num_layers": 1024}


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
