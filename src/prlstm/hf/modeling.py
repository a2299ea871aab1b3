"""``PRLSTMForCausalLM``: the shared backbone (:class:`~prlstm.lm.backbone.PRLSTMModel`:
embedding -> stacked PR layers -> LayerNorm -> readout) plus an LM head and the loss."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, NoReturn

from torch import Tensor, nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from prlstm.hf.checks import forward_kwargs, refuse_unsupported
from prlstm.hf.config import PRLSTMConfig
from prlstm.lm.backbone import PRLSTMModel
from prlstm.lm.cache import PRLSTMCache


@dataclass
class PRLSTMCausalLMOutput(ModelOutput):
    """``loss`` (with ``labels``), ``logits`` ``(B, T', V)``, ``cache`` (with ``use_cache``),
    ``hidden_states`` (with ``output_hidden_states``: ``num_layers + 1`` tensors, see
    :meth:`PRLSTMForCausalLM.forward`)."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    cache: PRLSTMCache | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class PRLSTMPreTrainedModel(PreTrainedModel):
    """Shared HF plumbing: config class, stateful generation, the layer's own initialisation."""

    config_class = PRLSTMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _is_stateful = True  # transformers' own guard against assisted decoding (5.24)
    supports_gradient_checkpointing = False

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # our cache is the stream state, not a KV cache

    @classmethod
    def register_for_auto_class(cls, auto_class: str | type = "AutoModel") -> None:
        """A no-op: prlstm registers itself with ``AutoModelForCausalLM`` on import and writes
        its own ``auto_map`` (see :mod:`prlstm.hf.remote_code`). transformers calls this when it
        loads remote code; the default would make ``save_pretrained`` copy prlstm's source files
        into every checkpoint."""

    def _init_weights(self, module: nn.Module) -> None:
        """Embedding ~ N(0, initializer_range), LayerNorm = (1, 0); the PR layers and any
        other linear keep their own (PyTorch / PR-LSTM) initialisation."""
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def backbone(config: PRLSTMConfig) -> PRLSTMModel:
    """The :class:`~prlstm.lm.backbone.PRLSTMModel` of ``config`` (its readout maps the
    hidden size back to ``embedding_size`` when they differ, so the head can be tied)."""
    return PRLSTMModel(config.vocab_size, config.hidden_size,
                       embedding_size=config.embedding_size, output_size=config.embedding_size,
                       num_layers=config.num_layers, cell=config.cell,
                       refinements=config.refinements, schedule=config.schedule,
                       backend=config.backend, bias=config.bias, dropout=config.dropout,
                       layer_norm_eps=config.layer_norm_eps)


def _keep_last(h: Tensor, logits_to_keep: int | Tensor) -> Tensor:
    """``h[:, -k:]`` for an int ``k`` (0: everything), ``h[:, idx]`` for a tensor of indices."""
    if isinstance(logits_to_keep, Tensor):
        return h[:, logits_to_keep]
    return h[:, -logits_to_keep:] if logits_to_keep else h


class PRLSTMForCausalLM(PRLSTMPreTrainedModel, GenerationMixin):
    """A PR-LSTM language model for ``transformers`` (``generate``, ``Trainer``,
    ``save_pretrained``...): ``model`` (the shared :class:`~prlstm.lm.backbone.PRLSTMModel`)
    then ``lm_head``.

    ``forward`` takes left-padded batches with an ``attention_mask`` (the layout ``generate``
    uses) and computes each row as if alone; right padding (a 0 after a 1 in a row of the
    mask) is refused. With ``use_cache`` it returns a :class:`PRLSTMCache`; passing one back
    continues the stream: one token -> one ``step``, several -> a parallel chunk continuation.
    ``generate`` refuses the decoding modes the stream state cannot serve before transformers
    starts (see :meth:`generate`).
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed.weight"}

    def __init__(self, config: PRLSTMConfig) -> None:
        super().__init__(config)
        self.model = backbone(config)
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

    # ----------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        cache: PRLSTMCache | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int | Tensor = 0,
        **kwargs: Any,
    ) -> PRLSTMCausalLMOutput | tuple:
        """Logits (and the shifted causal-LM loss with ``labels``; -100 and padded positions
        are ignored).

        Args:
            input_ids: ``(B, T)`` ids; with ``cache``, only the tokens after what it consumed.
            attention_mask: ``(B, T)`` (or ``(B, seen + T)`` with a cache), left padding only.
            cache: a :class:`PRLSTMCache` from an earlier call to continue.
            inputs_embeds: ``(B, T, E)`` instead of ``input_ids``.
            labels: ``(B, T)`` targets, shifted inside (as transformers' causal LMs do).
            use_cache: return the cache (default: ``config.use_cache`` in eval mode, False
                in training mode).
            output_hidden_states: return ``hidden_states`` (default
                ``config.output_hidden_states``): ``num_layers + 1`` tensors, the embeddings
                (after dropout; the input of layer 1), the outputs of layers 1..N-1 (the
                inputs of the layers above) and the last layer's output after the final
                LayerNorm (what the head reads, before any ``readout``; entry 0 has
                ``embedding_size`` features, the others ``hidden_size``). Positions are those
                of the input (left padding included). This is GPT-2's / Llama's layout;
                Mamba's omits the embeddings and lists the last layer raw and normed.
            return_dict: a :class:`PRLSTMCausalLMOutput` (default ``config.return_dict``)
                rather than a tuple of its non-None fields.
            logits_to_keep: compute logits only for the last k positions (0: all), or for
                the positions of a 1-D index tensor.
            **kwargs: ``num_items_in_batch`` (``Trainer``): the loss is then the *sum* over
                the batch divided by it, so gradient accumulation averages over all tokens
                of the accumulated batches, as transformers' causal-LM loss does.
                ``position_ids`` is accepted and ignored (positions are implicit; restarts
                inside a row are refused); ``output_attentions=True``, packed-sequence
                arguments and anything else are refused.
        """
        given = input_ids if input_ids is not None else inputs_embeds
        T = given.shape[1] if isinstance(given, Tensor) and given.dim() >= 2 else 0
        loss_kwargs = forward_kwargs(kwargs, attention_mask, T)
        cfg = self.config
        if use_cache is None:
            use_cache = cfg.use_cache and not self.training
        if output_hidden_states is None:
            output_hidden_states = bool(cfg.output_hidden_states)
        if return_dict is None:
            return_dict = cfg.return_dict if cfg.return_dict is not None else True
        out = self.model(input_ids=input_ids, inputs_embeds=inputs_embeds,
                         attention_mask=attention_mask, cache=cache, use_cache=use_cache,
                         output_hidden_states=output_hidden_states)
        h = out.last_hidden_state  # (B, T, E)
        logits = self.lm_head(_keep_last(h, logits_to_keep))
        loss = None
        if labels is not None:
            if attention_mask is not None and cache is None:
                labels = labels.masked_fill(attention_mask == 0, -100)
            keeps_all = isinstance(logits_to_keep, int) and logits_to_keep == 0
            full = logits if keeps_all else self.lm_head(h)
            loss = self.loss_function(full, labels, vocab_size=cfg.vocab_size, **loss_kwargs)
        result = PRLSTMCausalLMOutput(loss=loss, logits=logits, cache=out.cache,
                                      hidden_states=out.hidden_states)
        return result if return_dict else result.to_tuple()

    # -------------------------------------------------------------------------- generation
    def generate(self, inputs: Tensor | None = None,
                 generation_config: GenerationConfig | None = None, *args: Any,
                 **kwargs: Any) -> Any:
        """transformers' ``generate``, after refusing what PR-LSTM does not support.

        Supported (each tested in ``tests/hf``): greedy search, sampling, beam search and
        beam sampling, ``num_return_sequences``, logits processors and stopping criteria,
        streamers, left-padded batches (exact per row), ``inputs_embeds`` prompts,
        continuing from a returned ``cache`` (with ``input_ids`` or ``inputs_embeds``),
        ``use_cache=False``, ``output_hidden_states`` / ``output_logits`` /
        ``output_scores``.

        Refused here, with a :class:`ValueError` naming the feature, whether it comes from
        the keyword arguments, ``generation_config`` or ``model.generation_config``:
        assisted / speculative decoding (``assistant_model``, ``assistant_tokenizer``,
        ``prompt_lookup_num_tokens``, ``assistant_early_exit``, ``use_mtp``, use as another
        model's assistant), DoLa (``dola_layers``), contrastive search (``penalty_alpha``),
        group / diverse beam search (``num_beam_groups > 1``, ``diversity_penalty``),
        constrained beam search (``constraints``, ``force_words_ids``), ``custom_generate``,
        ``cache_implementation`` (static, offloaded, quantized, paged / continuous batching),
        chunked prefill (``prefill_chunk_size``), ``past_key_values`` or a ``cache`` that is
        not a :class:`PRLSTMCache`, a ``cache`` together with ``num_beams`` or
        ``num_return_sequences`` > 1, ``output_attentions=True``, and right padding in
        ``attention_mask``.
        """
        try:
            bound = inspect.signature(GenerationMixin.generate).bind(
                self, inputs, generation_config, *args, **kwargs)
        except TypeError:  # let transformers word the signature error
            return super().generate(inputs, generation_config, *args, **kwargs)
        named = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
        named.update(bound.arguments.get("kwargs", {}))
        refuse_unsupported(type(self).__name__, named, self.generation_config)
        return super().generate(inputs, generation_config, *args, **kwargs)

    def init_continuous_batching(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: continuous batching runs on a paged KV cache."""
        raise ValueError(f"{type(self).__name__}: continuous batching is not supported (it "
                         f"needs a paged KV cache; PR-LSTM's cache is its stream state)")

    def generate_batch(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: continuous batching runs on a paged KV cache."""
        self.init_continuous_batching()

    def prepare_inputs_for_generation(
            self, input_ids: Tensor, next_sequence_length: int | None = None,
            cache: PRLSTMCache | None = None, attention_mask: Tensor | None = None,
            inputs_embeds: Tensor | None = None, is_first_iteration: bool | None = False,
            use_cache: bool | None = None, **kwargs: Any) -> dict[str, Any]:
        """The inputs of one forward of ``generate``.

        Without a cache: the whole sequence (the prompt, or everything with
        ``use_cache=False``). With one: the columns it has not consumed, i.e. the last
        ``next_sequence_length`` when given (one per decoding step), else those after its
        ``seen`` columns. ``inputs_embeds`` are fed on the first iteration (or whenever there
        is no cache yet) instead of ``input_ids``, as transformers does. Any other keyword
        argument is passed on to ``forward`` (except ``labels`` and ``position_ids``).
        """
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if not use_cache:
            cache = None  # recompute from the whole sequence
        inputs: dict[str, Any] = {}
        if inputs_embeds is not None and (is_first_iteration or cache is None):
            embeds = inputs_embeds
            n = next_sequence_length
            if n is None and cache is not None:
                n = embeds.shape[1] - cache.get_seq_length()
            if n is not None:
                self._check_new("inputs_embeds", n, embeds.shape[1], cache)
                embeds = embeds[:, -n:]
            inputs["input_ids"], inputs["inputs_embeds"] = None, embeds.contiguous()
        else:
            ids = input_ids
            if cache is not None:
                n = next_sequence_length
                if n is None:
                    total = attention_mask.shape[1] if attention_mask is not None \
                        else ids.shape[1]
                    n = total - cache.get_seq_length()
                self._check_new("input_ids", n, ids.shape[1], cache)
                ids = ids[:, -n:]
            inputs["input_ids"] = ids.contiguous()
        inputs.update(attention_mask=attention_mask, cache=cache, use_cache=use_cache)
        for key, val in kwargs.items():
            if key not in ("labels", "position_ids", "next_sequence_length") \
                    and key not in inputs:
                inputs[key] = val
        return inputs

    @staticmethod
    def _check_new(name: str, n: int, width: int, cache: PRLSTMCache | None) -> None:
        seen = cache.get_seq_length() if cache is not None else 0
        if n < 1:
            raise ValueError(f"the cache has already consumed {seen} columns and {name} holds "
                             f"nothing after them: nothing to feed")
        if n > width:
            raise ValueError(f"the cache has consumed {seen} columns; {name} must hold the "
                             f"{n} after them, got {width}")
