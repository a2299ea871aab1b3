"""``PRLSTMForCausalLM``: embedding -> stacked PR layers -> LayerNorm -> (readout) -> LM head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from prlstm.hf.cache import PRLSTMCache
from prlstm.hf.config import PRLSTMConfig
from prlstm.layer import PRLSTM


@dataclass
class PRLSTMCausalLMOutput(ModelOutput):
    """``loss`` (with ``labels``), ``logits`` ``(B, T', V)``, ``cache`` (with ``use_cache``)."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    cache: PRLSTMCache | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class PRLSTMPreTrainedModel(PreTrainedModel):
    """Shared HF plumbing: config class, stateful generation, the layer's own initialisation."""

    config_class = PRLSTMConfig
    base_model_prefix = "model"
    _is_stateful = True  # assisted decoding refuses clearly
    supports_gradient_checkpointing = False

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # our cache is the stream state, not a KV cache

    def _init_weights(self, module: nn.Module) -> None:
        """Embedding ~ N(0, initializer_range), LayerNorm = (1, 0); the PR layers and any
        other linear keep their own (PyTorch / PR-LSTM) initialisation."""
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class PRLSTMBackbone(nn.Module):
    """Token embedding, the PR layers, the final LayerNorm (and readout to the embedding)."""

    def __init__(self, config: PRLSTMConfig) -> None:
        super().__init__()
        E, H = config.embedding_size, config.hidden_size
        self.embed = nn.Embedding(config.vocab_size, E)
        self.dropout = nn.Dropout(config.dropout)
        self.layer = PRLSTM(E, H, cell=config.cell, refinements=config.refinements,
                            num_layers=config.num_hidden_layers, schedule=config.schedule,
                            bias=config.bias, dropout=config.dropout, batch_first=True,
                            backend=config.backend)
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.readout = nn.Linear(H, E, bias=False) if E != H else nn.Identity()


def _left_to_right(x: Tensor, pads: Tensor) -> Tensor:
    """Shift row b of ``(B, T, ...)`` left by ``pads[b]`` (left padding -> right padding)."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] + pads[:, None]) % T  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _right_to_left(x: Tensor, pads: Tensor) -> Tensor:
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] - pads[:, None]) % T
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


class PRLSTMForCausalLM(PRLSTMPreTrainedModel, GenerationMixin):
    """A PR-LSTM language model for ``transformers`` (``generate``, ``save_pretrained``...).

    ``forward`` takes left-padded batches with an ``attention_mask`` (the layout ``generate``
    uses) and computes each row as if alone; right padding (a 0 after a 1 in a row of the
    mask) is refused. With ``use_cache`` it returns a :class:`PRLSTMCache`; passing one back
    continues the stream: one token -> one ``step``, several -> a parallel chunk continuation.
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed.weight"}

    def __init__(self, config: PRLSTMConfig) -> None:
        super().__init__(config)
        self.model = PRLSTMBackbone(config)
        self.lm_head = nn.Linear(config.embedding_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.embed = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    # ------------------------------------------------------------------------------ checks
    def _check_ids(self, input_ids: object) -> Tensor:
        if not isinstance(input_ids, Tensor):
            raise TypeError(f"input_ids must be a LongTensor (B, T), got "
                            f"{type(input_ids).__name__}")
        if input_ids.dim() != 2 or input_ids.dtype.is_floating_point \
                or input_ids.dtype == torch.bool:
            raise ValueError(f"input_ids must be integer ids of shape (B, T), got dtype "
                             f"{input_ids.dtype} shape {tuple(input_ids.shape)}")
        if input_ids.numel() == 0:
            raise ValueError(f"input_ids is empty, shape {tuple(input_ids.shape)}")
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(f"input_ids must lie in [0, vocab_size={self.config.vocab_size}), "
                             f"got values in [{lo}, {hi}]")
        return input_ids

    @staticmethod
    def _pads(attention_mask: Tensor | None, shape: tuple[int, int]) -> Tensor | None:
        """Left pads per row from a 0/1 mask ``(B, T)``; None when nothing is padded."""
        if attention_mask is None:
            return None
        if tuple(attention_mask.shape) != shape:
            raise ValueError(f"attention_mask must have the shape of input_ids {shape}, got "
                             f"{tuple(attention_mask.shape)}")
        m = attention_mask.long()
        if bool(((m != 0) & (m != 1)).any()):
            raise ValueError("attention_mask must hold only 0 and 1")
        if bool((m[:, 1:] < m[:, :-1]).any()):
            raise ValueError("attention_mask has a 0 after a 1: right padding (or a gap) is "
                             "not supported; PR-LSTM needs left padding (tokenizer "
                             "padding_side='left')")
        if bool((m.sum(1) == 0).any()):
            raise ValueError("attention_mask has a row with no tokens (all 0)")
        pads = (1 - m).sum(1)
        return pads if bool((pads > 0).any()) else None

    # ----------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        cache: PRLSTMCache | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> PRLSTMCausalLMOutput | tuple:
        """Logits (and the shifted causal-LM loss with ``labels``; -100 and padded positions
        are ignored).

        Args:
            input_ids: ``(B, T)`` ids; with ``cache``, only the tokens after what it consumed.
            attention_mask: ``(B, T)`` (or ``(B, seen + T)`` with a cache), left padding only.
            cache: a :class:`PRLSTMCache` from an earlier call to continue.
            inputs_embeds: ``(B, T, E)`` instead of ``input_ids``.
            use_cache: return the cache (default ``config.use_cache``).
            logits_to_keep: compute logits only for the last k positions (0: all).
        """
        kwargs.pop("position_ids", None)  # positions are implicit in the stream
        kwargs.pop("output_attentions", None)
        output_hidden = bool(kwargs.pop("output_hidden_states", False))
        if kwargs:
            raise TypeError(f"PRLSTMForCausalLM.forward got unexpected arguments "
                            f"{sorted(kwargs)}")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            x = self.model.embed(self._check_ids(input_ids))
        else:
            x = inputs_embeds
        x = self.model.dropout(x)
        B, T = x.shape[:2]
        layer = self.model.layer
        new_cache = None
        if cache is not None:
            if not isinstance(cache, PRLSTMCache):
                raise TypeError(f"cache must be a PRLSTMCache, got {type(cache).__name__}")
            if cache.batch_size != B:
                raise ValueError(f"cache holds {cache.batch_size} rows but input has {B}")
            if attention_mask is not None and not bool((attention_mask[:, -T:] == 1).all()):
                raise ValueError("attention_mask must be 1 for every token after the cache "
                                 "(padding can only come before a sequence's first token)")
            if T == 1:
                h, state = layer.step(x[:, 0], cache.state)
                h = h[:, None]
            else:
                h, state = layer.prefill(x, state=cache.state)
            new_cache = PRLSTMCache(state, cache.seen + T) if use_cache else None
        else:
            pads = self._pads(attention_mask, (B, T))
            xr = x if pads is None else _left_to_right(x, pads)
            lengths = None if pads is None else T - pads
            if use_cache:
                h, state = layer.prefill(xr, lengths=lengths)
                new_cache = PRLSTMCache(state, T)
            else:
                h = layer(xr, lengths=lengths)[0]
            if pads is not None:
                h = _right_to_left(h, pads)
        h = self.model.readout(self.model.norm(h))
        kept = h[:, -logits_to_keep:] if logits_to_keep else h
        logits = self.lm_head(kept)
        loss = None
        if labels is not None:
            if attention_mask is not None and cache is None:
                labels = labels.masked_fill(attention_mask == 0, -100)
            full = logits if not logits_to_keep else self.lm_head(h)
            loss = self.loss_function(full, labels, vocab_size=self.config.vocab_size)
        out = PRLSTMCausalLMOutput(loss=loss, logits=logits, cache=new_cache,
                                   hidden_states=(h,) if output_hidden else None)
        return out if return_dict else out.to_tuple()

    # -------------------------------------------------------------------------- generation
    def prepare_inputs_for_generation(
        self,
        input_ids: Tensor,
        next_sequence_length: int | None = None,
        cache: PRLSTMCache | None = None,
        attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        is_first_iteration: bool | None = False,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """First call: the whole prompt (one parallel prefill). Later: only the columns the
        cache has not consumed (one token per step; on ``generate(seq, cache=c)`` the part of
        ``seq`` after ``c``). Without a cache (``use_cache=False``): the whole sequence."""
        if inputs_embeds is not None:
            raise ValueError("generate with inputs_embeds is not supported by PRLSTMForCausalLM;"
                             " pass input_ids")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None and not is_first_iteration:
            raise RuntimeError("generate lost the PR-LSTM cache after the first iteration; "
                               "this transformers version is not supported")
        ids = input_ids
        if cache is not None and use_cache:
            total = attention_mask.shape[1] if attention_mask is not None else ids.shape[1]
            new = total - cache.get_seq_length()
            if new < 1:
                raise ValueError(f"the cache has already consumed {cache.get_seq_length()} "
                                 f"tokens but the sequence has only {total}: nothing to feed")
            if new > ids.shape[1]:
                raise ValueError(f"the cache has consumed {cache.get_seq_length()} tokens; "
                                 f"input_ids must hold the tokens after them ({new}), got "
                                 f"{ids.shape[1]}")
            ids = ids[:, -new:]
        elif cache is not None:
            cache = None  # use_cache=False: recompute from the whole sequence
        inputs = {"input_ids": ids.contiguous(), "attention_mask": attention_mask,
                  "cache": cache, "use_cache": use_cache}
        for key in ("logits_to_keep", "return_dict", "output_hidden_states"):
            if key in kwargs:
                inputs[key] = kwargs[key]
        return inputs
