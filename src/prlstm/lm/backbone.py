"""``PRLSTMModel``: the one PR-LSTM language-model backbone, in plain PyTorch.

Token embedding -> stacked PR layers -> LayerNorm (-> a bias-free readout). Both language models
of the package are this backbone plus a head: :class:`prlstm.hf.PRLSTMForCausalLM` (tied or
untied LM head, the loss, ``generate``) and the LM demo's :class:`prlstm.lm.models.CharLM`
(``model="pr_lstm"``). Nothing here imports ``transformers``.

Padding. ``attention_mask`` marks *left* padding (the layout ``generate`` uses): rows are
shifted to right padding, run with their lengths and shifted back, so every row gets the
numbers it would get alone. ``lengths`` gives the true lengths of a *right*-padded batch
directly. Either way padded output positions are zero before the final LayerNorm.

Compilation. Checks that read tensor values on the host (id ranges, the mask's 0/1 layout) are
skipped while ``torch.compile`` traces; the mask is then trusted. Without a cache the layers
run without host reads at all, so ``torch.compile(..., fullgraph=True)`` traces a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.layer import PRLSTM, StreamState
from prlstm.lm.cache import PRLSTMCache


def compiling() -> bool:
    """Whether torch.compile is tracing (host-side value checks must then be skipped)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling and is_compiling())


@dataclass
class PRLSTMModelOutput:
    """What :meth:`PRLSTMModel.forward` returns.

    Attributes:
        last_hidden_state: ``(B, T, output_size)``, what a head reads: the last layer's output
            after the final LayerNorm (and the readout, when there is one).
        cache: the stream state after the input (with ``use_cache``), else ``None``.
        hidden_states: with ``output_hidden_states``, ``num_layers + 1`` tensors: the
            embeddings (after dropout: the input of layer 1), the outputs of layers 1..N-1
            (the inputs of the layers above) and the last layer's output after the final
            LayerNorm (before any readout), at the input's positions (left padding included).
    """

    last_hidden_state: Tensor
    cache: PRLSTMCache | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class PRLSTMModel(nn.Module):
    """Token embedding, the PR layers, the final LayerNorm (and readout).

    ``layer`` (one :class:`~prlstm.layer.PRLSTM` of ``num_layers`` layers) owns the parameters.
    :meth:`forward` drives it one layer at a time through single-layer *views* that share its
    cells (no copies, not registered as submodules), so that every layer's output is available
    for ``output_hidden_states`` and a cache holds one stream state per layer. State-dict keys:
    ``embed.weight``, ``layer.layers.<i>.*``, ``norm.weight``, ``norm.bias`` (and
    ``readout.weight``).

    Args:
        vocab_size: number of token ids.
        hidden_size: H, the PR layers' state size.
        embedding_size: E, the token embedding width (default ``hidden_size``).
        output_size: width of ``last_hidden_state``; when it differs from ``hidden_size`` a
            bias-free ``readout`` Linear(H, output_size) follows the LayerNorm (default
            ``hidden_size``: no readout).
        num_layers: stacked PR layers.
        cell: the PR cell, ``"lstm"``, ``"rnn"`` or ``"gru"`` (:class:`~prlstm.layer.PRLSTM`).
        refinements: R, refinement steps per combine (0 for ``"gru"``).
        schedule: ``"tree"`` or ``"sequential"``.
        backend: the layer's scan backend (``"auto"``: its choice).
        bias: linear maps with biases.
        dropout: on the embeddings and between PR layers (training mode only).
        layer_norm_eps: of the final LayerNorm.
    """

    def __init__(self, vocab_size: int, hidden_size: int, *, embedding_size: int | None = None,
                 output_size: int | None = None, num_layers: int = 1, cell: str = "lstm",
                 refinements: int = 1, schedule: str = "tree", backend: str = "auto",
                 bias: bool = True, dropout: float = 0.0, layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        E = hidden_size if embedding_size is None else embedding_size
        out = hidden_size if output_size is None else output_size
        # Built in this order so that a seeded model draws the same weights as before the
        # backbone was shared (embedding, PR layers, norm, readout).
        self.embed = nn.Embedding(vocab_size, E)
        self.dropout = nn.Dropout(dropout)
        self.layer = PRLSTM(E, hidden_size, cell=cell, refinements=refinements,
                            num_layers=num_layers, schedule=schedule, bias=bias,
                            dropout=dropout, batch_first=True, backend=backend)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.readout = nn.Linear(hidden_size, out, bias=False) if out != hidden_size \
            else nn.Identity()
        self._views: list[PRLSTM] = []
        self.layer_views()

    # --------------------------------------------------------------------------- the layers
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

    def _run(self, x: Tensor, lengths: Tensor | None, states: tuple[StreamState, ...] | None,
             use_cache: bool, want_hidden: bool
             ) -> tuple[Tensor, tuple[StreamState, ...] | None, list[Tensor]]:
        """The PR layers on ``x`` ``(B, T, E)``, right-padded to ``lengths`` ``(B,)`` if given.

        With ``states`` the streams continue (one token: ``step``; more: chunked prefill);
        with ``use_cache`` they start (``prefill``). Returns the last layer's output
        ``(B, T, H)``, the new states (``None`` without a cache) and, with ``want_hidden``,
        each layer's input.
        """
        views = self.layer_views()
        p = self.layer.dropout
        valid = None  # (B, T, 1): the positions inside each row's length
        if lengths is not None:
            positions = torch.arange(x.shape[1], device=x.device)
            valid = (positions < lengths.to(x.device)[:, None])[..., None]
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
            else:  # the layer's final state is not needed: no lengths, no host reads
                h = view(inp)[0]
                if valid is not None:
                    h = torch.where(valid, h, torch.zeros((), dtype=h.dtype, device=h.device))
            inp = F.dropout(h, p, training=True) if p and self.training and i < len(views) - 1 \
                else h
        return inp, (tuple(new_states) if new_states else None), inputs

    # ---------------------------------------------------------------------------- forward
    def forward(self, input_ids: Tensor | None = None, inputs_embeds: Tensor | None = None,
                attention_mask: Tensor | None = None, lengths: Tensor | None = None,
                cache: PRLSTMCache | None = None, use_cache: bool = False,
                output_hidden_states: bool = False) -> PRLSTMModelOutput:
        """The backbone on a batch of ids or embeddings.

        Args:
            input_ids: ``(B, T)`` token ids; with ``cache``, only the tokens after it.
            inputs_embeds: ``(B, T, E)`` instead of ``input_ids`` (exactly one is given).
            attention_mask: ``(B, T)`` 0/1, left padding only (or ``(B, seen + T)`` with a
                cache, all ones after it).
            lengths: ``(B,)`` true lengths of a right-padded batch (not with a mask or cache).
            cache: a :class:`PRLSTMCache` from an earlier call: the streams continue.
            use_cache: return the cache after this input.
            output_hidden_states: return every layer's input and the normed output.

        Returns:
            :class:`PRLSTMModelOutput`.
        """
        x = self.embed_inputs(input_ids, inputs_embeds)  # (B, T, E)
        B, T = x.shape[:2]
        pads = None
        if cache is not None:
            self._check_cache(cache, B, attention_mask, lengths, T)
            h, states, inputs = self._run(x, None, cache.states, True, output_hidden_states)
            new_cache = PRLSTMCache(states, cache.seen + T) if use_cache else None
        else:
            pads, lens = self._padding(attention_mask, lengths, B, T)
            xr = x if pads is None else _shift(x, pads)
            h, states, inputs = self._run(xr, lens, None, use_cache, output_hidden_states)
            new_cache = PRLSTMCache(states, T) if use_cache else None
            if pads is not None:  # back to the input's (left-padded) layout
                h = _shift(h, -pads)
                inputs = [_shift(t, -pads) if i else x for i, t in enumerate(inputs)]
        normed = self.norm(h)
        hidden_states = (*inputs, normed) if output_hidden_states else None
        return PRLSTMModelOutput(self.readout(normed), new_cache, hidden_states)

    def embed_inputs(self, input_ids: Tensor | None, inputs_embeds: Tensor | None) -> Tensor:
        """The checked input as embeddings ``(B, T, E)``, after dropout."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            return self.dropout(self.embed(self._check_ids(input_ids)))
        return self.dropout(self._check_embeds(inputs_embeds))

    # ----------------------------------------------------------------------------- checks
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
        if not compiling():  # a data-dependent read: not under torch.compile
            V = self.embed.num_embeddings
            lo, hi = (int(v) for v in torch.aminmax(input_ids))  # one host read
            if lo < 0 or hi >= V:
                raise ValueError(f"input_ids must lie in [0, vocab_size={V}), got values in "
                                 f"[{lo}, {hi}]")
        return input_ids

    def _check_embeds(self, inputs_embeds: object) -> Tensor:
        if not isinstance(inputs_embeds, Tensor):
            raise TypeError(f"inputs_embeds must be a float tensor (B, T, E), got "
                            f"{type(inputs_embeds).__name__}")
        E = self.embed.embedding_dim
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != E \
                or not inputs_embeds.dtype.is_floating_point:
            raise ValueError(f"inputs_embeds must be floats of shape (B, T, embedding_size={E})"
                             f", got dtype {inputs_embeds.dtype} shape "
                             f"{tuple(inputs_embeds.shape)}")
        if inputs_embeds.shape[0] == 0 or inputs_embeds.shape[1] == 0:
            raise ValueError(f"inputs_embeds is empty, shape {tuple(inputs_embeds.shape)}")
        return inputs_embeds

    @staticmethod
    def _padding(attention_mask: Tensor | None, lengths: Tensor | None, B: int, T: int
                 ) -> tuple[Tensor | None, Tensor | None]:
        """``(left pads, row lengths)``, each ``(B,)`` or ``None`` when nothing is padded."""
        if attention_mask is not None and lengths is not None:
            raise ValueError("pass attention_mask (left padding) or lengths (right padding), "
                             "not both")
        if lengths is not None:
            return None, _check_lengths(lengths, B, T)
        pads = left_pads(attention_mask, (B, T))
        return pads, (None if pads is None else T - pads)

    def _check_cache(self, cache: object, B: int, attention_mask: Tensor | None,
                     lengths: Tensor | None, T: int) -> None:
        if not isinstance(cache, PRLSTMCache):
            raise TypeError(f"cache must be a PRLSTMCache, got {type(cache).__name__}")
        if cache.batch_size != B:
            raise ValueError(f"cache holds {cache.batch_size} rows but input has {B}")
        if len(cache.states) != self.layer.num_layers:
            raise ValueError(f"cache holds {len(cache.states)} layer states but the model has "
                             f"{self.layer.num_layers} layers")
        if lengths is not None:
            raise ValueError("lengths describe a new right-padded batch; a cache continues "
                             "every row: pass one or the other")
        if attention_mask is not None and not compiling() \
                and not bool((attention_mask[:, -T:] == 1).all()):
            raise ValueError("attention_mask must be 1 for every token after the cache "
                             "(padding can only come before a sequence's first token)")


def left_pads(attention_mask: Tensor | None, shape: tuple[int, int]) -> Tensor | None:
    """Left pads per row ``(B,)`` of a 0/1 mask ``(B, T)``; ``None`` when nothing is padded.

    Under torch.compile the mask is trusted (no host reads) and always applied."""
    if attention_mask is None:
        return None
    if tuple(attention_mask.shape) != shape:
        raise ValueError(f"attention_mask must have the shape of input_ids {shape}, got "
                         f"{tuple(attention_mask.shape)}")
    if compiling():
        return (1 - attention_mask.long()).sum(1)
    if bool(((attention_mask != 0) & (attention_mask != 1)).any()):  # before any cast
        raise ValueError("attention_mask must hold only 0 and 1")
    m = attention_mask.long()
    if bool((m[:, 1:] < m[:, :-1]).any()):
        raise ValueError("attention_mask has a 0 after a 1: right padding (or a gap) is not "
                         "supported; PR-LSTM needs left padding (tokenizer "
                         "padding_side='left')")
    if bool((m.sum(1) == 0).any()):
        raise ValueError("attention_mask has a row with no tokens (all 0)")
    pads = (1 - m).sum(1)
    return pads if bool((pads > 0).any()) else None


def _check_lengths(lengths: object, B: int, T: int) -> Tensor:
    """``lengths`` as a ``(B,)`` int64 tensor (values in [1, T], unchecked while compiling)."""
    if not isinstance(lengths, Tensor) or lengths.shape != (B,) \
            or lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be a ({B},) integer tensor, got "
                         f"{getattr(lengths, 'dtype', type(lengths).__name__)} "
                         f"{tuple(getattr(lengths, 'shape', ()))}")
    if not compiling():
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got values in [{lo}, {hi}]")
    return lengths.long()


def _shift(x: Tensor, pads: Tensor) -> Tensor:
    """Row b of ``x`` ``(B, T, ...)`` rotated left by ``pads[b]`` (negative: right): left
    padding -> right padding with ``pads``, and back with ``-pads``."""
    T = x.shape[1]
    idx = (torch.arange(T, device=x.device)[None, :] + pads[:, None]) % T  # (B, T)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))
