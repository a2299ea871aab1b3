"""``PRLSTMForCausalLM``: embedding -> stacked PR layers -> LayerNorm -> (readout) -> LM head."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from prlstm.hf.cache import PRLSTMCache
from prlstm.hf.config import PRLSTMConfig
from prlstm.layer import PRLSTM, StreamState

# Packed-sequence (padding-free) inputs: several documents per row, which would need the
# recurrence to restart mid-row. Refused; pad the batch instead.
_PACKED_KWARGS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx")


def _compiling() -> bool:
    """Whether torch.compile is tracing (host-side value checks must then be skipped)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling and is_compiling())


@dataclass
class PRLSTMCausalLMOutput(ModelOutput):
    """``loss`` (with ``labels``), ``logits`` ``(B, T', V)``, ``cache`` (with ``use_cache``),
    ``hidden_states`` (with ``output_hidden_states``: ``num_hidden_layers + 1`` tensors, see
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


class PRLSTMBackbone(nn.Module):
    """Token embedding, the PR layers, the final LayerNorm (and readout to the embedding).

    ``layer`` (one :class:`~prlstm.layer.PRLSTM` of ``num_hidden_layers`` layers) owns the
    parameters. :meth:`run` drives it one layer at a time through single-layer *views* that
    share its cells (no copies, not registered as submodules), so that every layer's output is
    available for ``output_hidden_states`` and the cache holds one stream state per layer.
    """

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
        self._views: list[PRLSTM] = []
        self.layer_views()

    def layer_views(self) -> list[PRLSTM]:
        """One single-layer PRLSTM per layer of ``self.layer``, sharing its cells (rebuilt if
        the cells were replaced, e.g. by an adapter library)."""
        cells = list(self.layer.layers)
        if len(self._views) != len(cells) or any(
                v.layers[0] is not c for v, c in zip(self._views, cells, strict=False)):
            self._views = [self._view(i, cell) for i, cell in enumerate(cells)]
        return self._views

    def _view(self, i: int, cell: nn.Module) -> PRLSTM:
        L = self.layer
        # Built on the meta device (no memory, no RNG draws), then given the shared cell.
        view = PRLSTM(L.input_size if i == 0 else L.hidden_size, L.hidden_size, cell=L.cell,
                      refinements=L.refinements, num_layers=1, schedule=L.schedule,
                      bias=L.bias, dropout=0.0, batch_first=True, backend=L.backend,
                      device="meta", merge=L.merge)
        view.layers = nn.ModuleList([cell])
        return view

    def run(self, x: Tensor, lengths: Tensor | None, states: tuple[StreamState, ...] | None,
            use_cache: bool, want_hidden: bool
            ) -> tuple[Tensor, tuple[StreamState, ...] | None, list[Tensor]]:
        """The PR layers on ``x`` ``(B, T, E)`` (right-padded to ``lengths`` when given).

        With ``states`` the stream continues (one token: ``step``; more: chunked prefill).
        Returns the last layer's output, the new states (``None`` without a cache) and, with
        ``want_hidden``, each layer's input (the embeddings, then layers 1..N-1's outputs).
        """
        views = self.layer_views()
        last = len(views) - 1
        p = self.layer.dropout
        inp, new_states, inputs = x, [], []
        for i, view in enumerate(views):
            if want_hidden:
                inputs.append(inp)
            if states is not None:
                if inp.shape[1] == 1:
                    h, state = view.step(inp[:, 0], states[i])
                    h = h[:, None]
                else:
                    h, state = view.prefill(inp, state=states[i])
                new_states.append(state)
            elif use_cache:
                h, state = view.prefill(inp, lengths=lengths)
                new_states.append(state)
            else:
                h = view(inp, lengths=lengths)[0]
            inp = F.dropout(h, p, training=True) if p and self.training and i < last else h
        return inp, (tuple(new_states) if new_states else None), inputs


def _left_to_right(x: Tensor, pads: Tensor) -> Tensor:
    """Shift row b of ``(B, T, ...)`` left by ``pads[b]`` (left padding -> right padding)."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] + pads[:, None]) % T  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _right_to_left(x: Tensor, pads: Tensor) -> Tensor:
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] - pads[:, None]) % T
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def _keep_last(h: Tensor, logits_to_keep: int | Tensor) -> Tensor:
    """``h[:, -k:]`` for an int ``k`` (0: everything), ``h[:, idx]`` for a tensor of indices."""
    if isinstance(logits_to_keep, Tensor):
        return h[:, logits_to_keep]
    return h[:, -logits_to_keep:] if logits_to_keep else h


class PRLSTMForCausalLM(PRLSTMPreTrainedModel, GenerationMixin):
    """A PR-LSTM language model for ``transformers`` (``generate``, ``Trainer``,
    ``save_pretrained``...).

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
        if not _compiling():  # a data-dependent read: not under torch.compile
            lo, hi = int(input_ids.min()), int(input_ids.max())
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(f"input_ids must lie in [0, vocab_size="
                                 f"{self.config.vocab_size}), got values in [{lo}, {hi}]")
        return input_ids

    def _check_embeds(self, inputs_embeds: object) -> Tensor:
        if not isinstance(inputs_embeds, Tensor):
            raise TypeError(f"inputs_embeds must be a float tensor (B, T, E), got "
                            f"{type(inputs_embeds).__name__}")
        E = self.config.embedding_size
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != E \
                or not inputs_embeds.dtype.is_floating_point:
            raise ValueError(f"inputs_embeds must be floats of shape (B, T, embedding_size={E})"
                             f", got dtype {inputs_embeds.dtype} shape "
                             f"{tuple(inputs_embeds.shape)}")
        if inputs_embeds.shape[0] == 0 or inputs_embeds.shape[1] == 0:
            raise ValueError(f"inputs_embeds is empty, shape {tuple(inputs_embeds.shape)}")
        return inputs_embeds

    @staticmethod
    def _pads(attention_mask: Tensor | None, shape: tuple[int, int]) -> Tensor | None:
        """Left pads per row from a 0/1 mask ``(B, T)``; None when nothing is padded.

        Under torch.compile the mask is trusted (no host reads) and always applied."""
        if attention_mask is None:
            return None
        if tuple(attention_mask.shape) != shape:
            raise ValueError(f"attention_mask must have the shape of input_ids {shape}, got "
                             f"{tuple(attention_mask.shape)}")
        if _compiling():
            return (1 - attention_mask.long()).sum(1)
        if bool(((attention_mask != 0) & (attention_mask != 1)).any()):  # before any cast
            raise ValueError("attention_mask must hold only 0 and 1")
        m = attention_mask.long()
        if bool((m[:, 1:] < m[:, :-1]).any()):
            raise ValueError("attention_mask has a 0 after a 1: right padding (or a gap) is "
                             "not supported; PR-LSTM needs left padding (tokenizer "
                             "padding_side='left')")
        if bool((m.sum(1) == 0).any()):
            raise ValueError("attention_mask has a row with no tokens (all 0)")
        pads = (1 - m).sum(1)
        return pads if bool((pads > 0).any()) else None

    @staticmethod
    def _loss_kwargs(kwargs: dict[str, Any], attention_mask: Tensor | None, T: int
                     ) -> dict[str, Any]:
        """Validate the transformers-wide keyword arguments; return those for the loss."""
        kwargs = dict(kwargs)
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        position_ids = kwargs.pop("position_ids", None)
        if kwargs.pop("output_attentions", None):
            raise ValueError("PR-LSTM has no attention weights: output_attentions=True is not "
                             "supported")
        if kwargs.pop("output_router_logits", None):
            raise ValueError("PR-LSTM is not a mixture of experts: output_router_logits=True "
                             "is not supported")
        if kwargs.pop("is_causal", None) is False:
            raise ValueError("PR-LSTM is causal by construction: is_causal=False is not "
                             "supported")
        packed = [k for k in _PACKED_KWARGS if kwargs.pop(k, None) is not None]
        if packed:
            raise ValueError(f"packed (padding-free) batches are not supported (got {packed}): "
                             f"PR-LSTM cannot restart its recurrence inside a row; pad the "
                             f"batch (left padding) instead")
        if kwargs:
            raise TypeError(f"PRLSTMForCausalLM.forward got unexpected arguments "
                            f"{sorted(kwargs)}")
        if isinstance(position_ids, Tensor) and position_ids.shape[-1] == T and T > 1 \
                and not _compiling():
            step = position_ids[..., 1:] - position_ids[..., :-1]
            real = torch.ones_like(step, dtype=torch.bool)
            if attention_mask is not None and attention_mask.shape[-1] >= T:
                m = attention_mask[..., -T:].bool()
                real = m[..., 1:] & m[..., :-1]
            if bool(((step != 1) & real).any()):
                raise ValueError("position_ids restart or skip inside a sequence (packed "
                                 "sequences?): PR-LSTM's positions are implicit in the stream "
                                 "and a row cannot hold several documents; pad the batch")
        return {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}

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
                ``config.output_hidden_states``): ``num_hidden_layers + 1`` tensors, the
                embeddings (after dropout; the input of layer 1), the outputs of layers
                1..N-1 (the inputs of the layers above) and the last layer's output after
                the final LayerNorm (what the head reads, before any ``readout``; entry 0
                has ``embedding_size`` features, the others ``hidden_size``). Positions are
                those of the input (left padding included). This is GPT-2's / Llama's
                layout; Mamba's omits the embeddings and lists the last layer raw and
                normed.
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
        loss_kwargs = self._loss_kwargs(kwargs, attention_mask, T)
        cfg = self.config
        if use_cache is None:
            use_cache = cfg.use_cache and not self.training
        if output_hidden_states is None:
            output_hidden_states = bool(cfg.output_hidden_states)
        if return_dict is None:
            return_dict = cfg.return_dict if cfg.return_dict is not None else True
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            x = self.model.embed(self._check_ids(input_ids))
        else:
            x = self._check_embeds(inputs_embeds)
        x = self.model.dropout(x)
        B, T = x.shape[:2]
        pads = None
        if cache is not None:
            self._check_cache(cache, B, attention_mask, T)
            h, states, inputs = self.model.run(x, None, cache.states, True, output_hidden_states)
            new_cache = PRLSTMCache(states, cache.seen + T) if use_cache else None
        else:
            pads = self._pads(attention_mask, (B, T))
            xr = x if pads is None else _left_to_right(x, pads)
            lengths = None if pads is None else T - pads
            h, states, inputs = self.model.run(xr, lengths, None, use_cache,
                                               output_hidden_states)
            new_cache = PRLSTMCache(states, T) if use_cache else None
            if pads is not None:
                h = _right_to_left(h, pads)
        normed = self.model.norm(h)
        h = self.model.readout(normed)
        logits = self.lm_head(_keep_last(h, logits_to_keep))
        loss = None
        if labels is not None:
            if attention_mask is not None and cache is None:
                labels = labels.masked_fill(attention_mask == 0, -100)
            keeps_all = isinstance(logits_to_keep, int) and logits_to_keep == 0
            full = logits if keeps_all else self.lm_head(h)
            loss = self.loss_function(full, labels, vocab_size=cfg.vocab_size, **loss_kwargs)
        hidden_states = None
        if output_hidden_states:
            if pads is not None:  # back to the input's (left-padded) layout
                inputs = [x] + [_right_to_left(t, pads) for t in inputs[1:]]
            hidden_states = (*inputs, normed)
        out = PRLSTMCausalLMOutput(loss=loss, logits=logits, cache=new_cache,
                                   hidden_states=hidden_states)
        return out if return_dict else out.to_tuple()

    def _check_cache(self, cache: object, B: int, attention_mask: Tensor | None,
                     T: int) -> None:
        if not isinstance(cache, PRLSTMCache):
            raise TypeError(f"cache must be a PRLSTMCache, got {type(cache).__name__}")
        if cache.batch_size != B:
            raise ValueError(f"cache holds {cache.batch_size} rows but input has {B}")
        if len(cache.states) != self.config.num_hidden_layers:
            raise ValueError(f"cache holds {len(cache.states)} layer states but the model has "
                             f"{self.config.num_hidden_layers} layers")
        if attention_mask is not None and not _compiling() \
                and not bool((attention_mask[:, -T:] == 1).all()):
            raise ValueError("attention_mask must be 1 for every token after the cache "
                             "(padding can only come before a sequence's first token)")

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
        self._refuse_unsupported(named)
        return super().generate(inputs, generation_config, *args, **kwargs)

    def _refuse_unsupported(self, named: dict[str, Any]) -> None:
        """Raise a ValueError for the first generate option PR-LSTM does not support."""
        config = named.get("generation_config") or self.generation_config

        def value(name: str) -> Any:
            return named[name] if name in named else getattr(config, name, None)

        def refuse(what: str, why: str, given: str = "") -> NoReturn:
            given = f" (got {given})" if given else ""
            raise ValueError(f"{type(self).__name__}.generate: {what} is not supported{given}: "
                             f"{why}")

        rollback = ("PR-LSTM's cache is an exact stream state that cannot be rolled back to "
                    "drop rejected draft tokens")
        for name in ("assistant_model", "assistant_tokenizer", "prompt_lookup_num_tokens",
                     "assistant_early_exit"):
            if value(name) is not None:
                refuse("assisted generation", rollback, f"{name}=...")
        if value("use_mtp"):
            refuse("assisted generation", rollback, "use_mtp=True")
        if value("is_assistant"):
            refuse("assisted generation", rollback, "use as another model's assistant")
        if value("dola_layers") is not None:
            refuse("DoLa decoding", "it contrasts attention-model layers and "
                   "is a Hub recipe with its own cache handling", "dola_layers=...")
        if (value("penalty_alpha") or 0) > 0:
            refuse("contrastive search", "it re-runs the model on candidate tokens with a "
                   "cropped KV cache", "penalty_alpha=...")
        if (value("num_beam_groups") or 1) > 1 or (value("diversity_penalty") or 0) > 0:
            refuse("group / diverse beam search", "it is a Hub recipe with its own cache "
                   "handling; use num_beams", "num_beam_groups or diversity_penalty")
        if value("constraints") is not None or value("force_words_ids") is not None:
            refuse("constrained beam search", "it is a Hub recipe with its own cache handling",
                   "constraints or force_words_ids")
        if value("custom_generate") is not None:
            refuse("custom_generate", "a replacement decoding loop is not known to handle the "
                   "PR-LSTM cache")
        if value("cache_implementation") is not None:
            refuse("cache_implementation", "the cache is the layer's stream state (static, "
                   "offloaded, quantized and paged / continuous-batching caches are KV caches)",
                   f"cache_implementation={value('cache_implementation')!r}")
        if value("prefill_chunk_size") is not None:
            refuse("chunked prefill", "the prompt is prefilled in one parallel call",
                   "prefill_chunk_size=...")
        if named.get("past_key_values") is not None:
            refuse("past_key_values", "pass the PRLSTMCache a previous call returned as "
                   "cache=...")
        cache = named.get("cache")
        if cache is not None:
            if not isinstance(cache, PRLSTMCache):
                refuse("a cache that is not a PRLSTMCache", "pass the PRLSTMCache a previous "
                       "generate / forward returned", type(cache).__name__)
            if max(value("num_beams") or 1, value("num_return_sequences") or 1) > 1:
                refuse("continuing a cache with num_beams or num_return_sequences > 1",
                       "transformers would not expand the cache's rows; continue with one "
                       "sequence per row, or start from the text without a cache")
        if value("output_attentions"):
            refuse("output_attentions=True", "PR-LSTM has no attention weights")
        mask = named.get("attention_mask")
        continuing = named.get("cache") is not None or named.get("past_key_values") is not None
        _check_generate_mask(mask, *(() if continuing else (named.get("inputs"),
                                                             named.get("input_ids"))))
        if isinstance(mask, Tensor) and mask.dim() == 2 and mask.shape[1] > 1 \
                and bool((mask[:, 1:].long() < mask[:, :-1].long()).any()):
            refuse("right padding", "PR-LSTM needs left padding (tokenizer "
                   "padding_side='left')", "a 0 after a 1 in attention_mask")

    def init_continuous_batching(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: continuous batching runs on a paged KV cache."""
        raise ValueError(f"{type(self).__name__}: continuous batching is not supported (it "
                         f"needs a paged KV cache; PR-LSTM's cache is its stream state)")

    def generate_batch(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: continuous batching runs on a paged KV cache."""
        self.init_continuous_batching()

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


def _check_generate_mask(mask: object, *ids: object) -> None:
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
