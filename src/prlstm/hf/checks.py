"""What :class:`~prlstm.hf.PRLSTMForCausalLM` refuses: ``forward``'s transformers-wide keyword
arguments and the ``generate`` options a stream-state cache cannot serve (docs/hf.md lists
them). Each refusal is a :class:`ValueError` naming the feature and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import torch
from torch import Tensor

from prlstm.lm.backbone import compiling
from prlstm.lm.cache import PRLSTMCache

# Packed-sequence (padding-free) inputs: several documents per row, which would need the
# recurrence to restart mid-row. Refused; pad the batch instead.
PACKED_KWARGS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx")


def forward_kwargs(kwargs: dict[str, Any], attention_mask: Tensor | None, T: int
                   ) -> dict[str, Any]:
    """Validate ``forward``'s extra keyword arguments; return those for the loss.

    ``num_items_in_batch`` is kept (for the loss), ``position_ids`` accepted and ignored (a
    restart inside a row is refused, unchecked while compiling), the rest refused."""
    kwargs = dict(kwargs)
    num_items_in_batch = kwargs.pop("num_items_in_batch", None)
    position_ids = kwargs.pop("position_ids", None)
    if kwargs.pop("output_attentions", None):
        raise ValueError("PR-LSTM has no attention weights: output_attentions=True is not "
                         "supported")
    if kwargs.pop("output_router_logits", None):
        raise ValueError("PR-LSTM is not a mixture of experts: output_router_logits=True is "
                         "not supported")
    if kwargs.pop("is_causal", None) is False:
        raise ValueError("PR-LSTM is causal by construction: is_causal=False is not supported")
    packed = [k for k in PACKED_KWARGS if kwargs.pop(k, None) is not None]
    if packed:
        raise ValueError(f"packed (padding-free) batches are not supported (got {packed}): "
                         f"PR-LSTM cannot restart its recurrence inside a row; pad the batch "
                         f"(left padding) instead")
    if kwargs:
        raise TypeError(f"PRLSTMForCausalLM.forward got unexpected arguments {sorted(kwargs)}")
    if isinstance(position_ids, Tensor) and position_ids.shape[-1] == T and T > 1 \
            and not compiling():
        step = position_ids[..., 1:] - position_ids[..., :-1]
        real = torch.ones_like(step, dtype=torch.bool)
        if attention_mask is not None and attention_mask.shape[-1] >= T:
            m = attention_mask[..., -T:].bool()
            real = m[..., 1:] & m[..., :-1]
        if bool(((step != 1) & real).any()):
            raise ValueError("position_ids restart or skip inside a sequence (packed "
                             "sequences?): PR-LSTM's positions are implicit in the stream and "
                             "a row cannot hold several documents; pad the batch")
    return {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}


_ROLLBACK = ("PR-LSTM's cache is an exact stream state that cannot be rolled back to drop "
             "rejected draft tokens")


def refuse_unsupported(owner: str, named: dict[str, Any], model_config: Any) -> None:
    """Raise a ValueError for the first ``generate`` option PR-LSTM does not support.

    Args:
        owner: the model's class name, for the message.
        named: ``generate``'s arguments by name (keyword arguments included).
        model_config: the model's own ``generation_config``, read when ``named`` has no
            ``generation_config``.
    """
    config = named.get("generation_config") or model_config

    def value(name: str) -> Any:
        return named[name] if name in named else getattr(config, name, None)

    def refuse(what: str, why: str, given: str = "") -> NoReturn:
        given = f" (got {given})" if given else ""
        raise ValueError(f"{owner}.generate: {what} is not supported{given}: {why}")

    _refuse_decoding_modes(value, refuse)
    _refuse_caches(named, value, refuse)
    if value("output_attentions"):
        refuse("output_attentions=True", "PR-LSTM has no attention weights")
    mask = named.get("attention_mask")
    continuing = named.get("cache") is not None or named.get("past_key_values") is not None
    check_generate_mask(mask, *(() if continuing else (named.get("inputs"),
                                                        named.get("input_ids"))))
    if isinstance(mask, Tensor) and mask.dim() == 2 and mask.shape[1] > 1 \
            and bool((mask[:, 1:].long() < mask[:, :-1].long()).any()):
        refuse("right padding", "PR-LSTM needs left padding (tokenizer padding_side='left')",
               "a 0 after a 1 in attention_mask")


def _refuse_decoding_modes(value: Callable[[str], Any], refuse: Callable[..., NoReturn]
                           ) -> None:
    """Assisted decoding, DoLa, contrastive, group / diverse and constrained beam search,
    ``custom_generate``."""
    for name in ("assistant_model", "assistant_tokenizer", "prompt_lookup_num_tokens",
                 "assistant_early_exit"):
        if value(name) is not None:
            refuse("assisted generation", _ROLLBACK, f"{name}=...")
    if value("use_mtp"):
        refuse("assisted generation", _ROLLBACK, "use_mtp=True")
    if value("is_assistant"):
        refuse("assisted generation", _ROLLBACK, "use as another model's assistant")
    if value("dola_layers") is not None:
        refuse("DoLa decoding", "it contrasts attention-model layers and is a Hub recipe with "
               "its own cache handling", "dola_layers=...")
    if (value("penalty_alpha") or 0) > 0:
        refuse("contrastive search", "it re-runs the model on candidate tokens with a cropped "
               "KV cache", "penalty_alpha=...")
    if (value("num_beam_groups") or 1) > 1 or (value("diversity_penalty") or 0) > 0:
        refuse("group / diverse beam search", "it is a Hub recipe with its own cache handling; "
               "use num_beams", "num_beam_groups or diversity_penalty")
    if value("constraints") is not None or value("force_words_ids") is not None:
        refuse("constrained beam search", "it is a Hub recipe with its own cache handling",
               "constraints or force_words_ids")
    if value("custom_generate") is not None:
        refuse("custom_generate", "a replacement decoding loop is not known to handle the "
               "PR-LSTM cache")


def _refuse_caches(named: dict[str, Any], value: Callable[[str], Any],
                   refuse: Callable[..., NoReturn]) -> None:
    """KV-cache options, chunked prefill, foreign caches, a cache with several sequences."""
    if value("cache_implementation") is not None:
        refuse("cache_implementation", "the cache is the layer's stream state (static, "
               "offloaded, quantized and paged / continuous-batching caches are KV caches)",
               f"cache_implementation={value('cache_implementation')!r}")
    if value("prefill_chunk_size") is not None:
        refuse("chunked prefill", "the prompt is prefilled in one parallel call",
               "prefill_chunk_size=...")
    if named.get("past_key_values") is not None:
        refuse("past_key_values", "pass the PRLSTMCache a previous call returned as cache=...")
    cache = named.get("cache")
    if cache is not None:
        if not isinstance(cache, PRLSTMCache):
            refuse("a cache that is not a PRLSTMCache", "pass the PRLSTMCache a previous "
                   "generate / forward returned", type(cache).__name__)
        if max(value("num_beams") or 1, value("num_return_sequences") or 1) > 1:
            refuse("continuing a cache with num_beams or num_return_sequences > 1",
                   "transformers would not expand the cache's rows; continue with one "
                   "sequence per row, or start from the text without a cache")


def check_generate_mask(mask: object, *ids: object) -> None:
    """``generate``'s ``attention_mask``: a 2-D tensor of 0s and 1s shaped like the ids."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dim() != 2:
        raise ValueError(f"attention_mask must be a (batch, length) tensor, got "
                         f"{getattr(mask, 'shape', type(mask).__name__)}")
    for given in ids:
        if isinstance(given, Tensor) and given.dim() == 2 and not given.is_floating_point() \
                and given.shape != mask.shape:
            raise ValueError(f"attention_mask must have the shape of input_ids "
                             f"{tuple(given.shape)}, got {tuple(mask.shape)}")
    if bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("attention_mask must hold only 0 and 1")
