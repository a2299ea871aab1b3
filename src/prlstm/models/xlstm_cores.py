"""xLSTM baselines (Beck et al. 2024): pure mLSTM and pure sLSTM stacks from the ``xlstm`` package.

Both cores use the official package (NX-AI ``xlstm`` 2.0.6, optional extra ``baselines``) and
its *block* objects, i.e. the architecture of the paper, not a bare recurrent layer::

    h = embed(x)                                  # (B, S, V') -> (B, S, H), Linear on one-hots
    h = xLSTMBlockStack(h)                        # L residual pre-LayerNorm xLSTM blocks,
                                                  # then the stack's post-blocks LayerNorm
    logits = readout(h)                           # (B, S, C)

- :class:`MLSTM`: L ``mLSTMBlock``\\ s, the paper's *pre-up-projection* block:
  ``h + down(mLSTM(conv4(up(norm(h)))) ⊙ silu(z))`` with an inner width of
  ``proj_factor · H`` (rounded up to a multiple of 64), ``num_heads`` matrix-memory heads,
  block-diagonal q/k/v projections (blocks of 4), a learnable skip and a group norm.
- :class:`SLSTM`: L ``sLSTMBlock``\\ s, the paper's *post-up-projection* block:
  ``h + groupnorm(sLSTM(conv4(norm(h))))`` followed by ``h + GatedFFN(norm(h))`` (GeLU,
  up-projection ``proj_factor · H`` rounded up to a multiple of 64); ``num_heads`` heads with
  block-diagonal recurrent matrices; power-law forget-gate bias init per block.

The package's own initialisations are kept; only the embedding and the readout are Haiku-style
(:func:`~prlstm.models.protocol.haiku_linear`), as in the other baselines.

CPU backends (nothing here needs CUDA or Triton):

- mLSTM: the package's ``mLSTMCell`` always runs its quadratic ``parallel_stabilized_simple``
  kernel with a ``(context_length, context_length)`` causal mask built at construction: it
  fails for ``1 < context_length < S`` and is silently non-causal for ``context_length = 1``
  (the mask broadcasts). Here each cell's kernel is replaced by
  :class:`MLSTMKernel`, which picks one of the package's two torch kernels per call and
  builds the mask for the actual ``S``, so any length works and no ``context_length`` is
  fixed: ``kernel="parallel"`` — ``parallel_stabilized_simple`` (memory
  ``O(B·NH·S²)``); ``"chunkwise"`` — ``chunkwise_simple`` with ``chunk_size`` (memory
  ``O(B·NH·S·chunk_size)`` plus one ``DH x DH`` state per chunk; the sequence is zero-padded at
  the end to a multiple of the chunk size, which cannot change earlier outputs);
  ``"auto"`` (default) — parallel for ``S <=`` :data:`PARALLEL_MAX_LENGTH`, chunkwise above.
  The two kernels compute the same function; they differ by the placement of the package's
  ``eps = 1e-6`` in the normaliser (differences of order 1e-7). ``parallel=False`` in
  :meth:`MLSTM.forward` runs the package's token-by-token recurrence
  (``xLSTMBlockStack.step``), the definition both kernels are tested against; it updates its
  convolution state in place, so it is for evaluation without gradients only.
- sLSTM: the package's ``backend="vanilla"`` cell (a Python loop over time with the package's
  pointwise sLSTM update). Its loop writes every step into preallocated tensors, which makes
  autograd copy the whole ``(4, S+1, B, H)`` gradient at every step of the backward pass
  (time ``O(S²)``); each cell's loop is therefore replaced by :class:`SLSTMLoop`, the same
  recurrence with the package's pointwise function that collects the states in a list
  (tested to match the package's loop). sLSTM has no parallel form, so ``parallel`` is ignored.
  (The package's ``sLSTMLayer.step`` is not used: in 2.0.6 it returns the *incoming* state.)

Both cores work for every sequence length ``S >= 1`` in float32 and float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models.protocol import haiku_linear

__all__ = ["MLSTM", "MLSTM_KERNELS", "PARALLEL_MAX_LENGTH", "SLSTM", "MLSTMKernel", "SLSTMLoop"]

#: Values of ``MLSTM(kernel=...)``.
MLSTM_KERNELS = ("auto", "parallel", "chunkwise")
#: ``kernel="auto"`` uses the quadratic parallel kernel up to this sequence length (about
#: where the chunkwise kernel becomes the faster one on CPU, forward + backward, B=128, DH=64).
PARALLEL_MAX_LENGTH = 192

_INSTALL_HINT = "model '{}' needs the xlstm package: pip install 'prlstm[baselines]'"


def _import_xlstm(model: str) -> Any:
    """The ``xlstm`` package, or an ImportError that names the extra to install."""
    try:
        import xlstm
    except ImportError as err:
        raise ImportError(_INSTALL_HINT.format(model)) from err
    return xlstm


def _positive_int(model: str, name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{model}: option {name!r} must be a positive int, got {value!r}")
    return value


def _proj_factor(model: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{model}: option 'proj_factor' must be a positive number, "
                         f"got {value!r}")
    return float(value)


def _up_dim(hidden_size: int, proj_factor: float) -> int:
    """The package's up-projection width: ``proj_factor · H`` rounded up to a multiple of 64."""
    return int(math.ceil(proj_factor * hidden_size / 64) * 64)


# ----------------------------------------------------------------------------- kernels
class MLSTMKernel:
    """The mLSTM cell kernel, in place of ``mLSTMCell.backend_fn`` (see the module docstring).

    Args:
        kind: ``"auto"``, ``"parallel"`` or ``"chunkwise"``.
        chunk_size: chunk length of the chunkwise kernel (shorter sequences use one chunk).
        parallel_fn: the package's ``parallel_stabilized_simple``.
        chunkwise_fn: the package's ``chunkwise_simple``.

    Called as the package calls its kernel: ``kernel(queries, keys, values, igate_preact,
    fgate_preact, lower_triangular_matrix=...)`` with ``q, k, v (B, NH, S, DH)`` and gate
    pre-activations ``(B, NH, S, 1)``; returns ``h̃ (B, NH, S, DH)``. The cell's fixed-size
    causal mask is ignored.
    """

    def __init__(self, kind: str, chunk_size: int, parallel_fn: Callable[..., Tensor],
                 chunkwise_fn: Callable[..., Tensor]) -> None:
        self.kind, self.chunk_size = kind, chunk_size
        self.parallel_fn, self.chunkwise_fn = parallel_fn, chunkwise_fn

    def uses_parallel(self, seq_len: int) -> bool:
        """Whether a sequence of length ``seq_len`` runs the quadratic parallel kernel."""
        return self.kind == "parallel" or (
            self.kind == "auto" and seq_len <= PARALLEL_MAX_LENGTH)

    def __call__(self, queries: Tensor, keys: Tensor, values: Tensor, igate_preact: Tensor,
                 fgate_preact: Tensor, **_: Any) -> Tensor:
        S = queries.shape[2]
        if self.uses_parallel(S):
            # lower_triangular_matrix=None: the kernel builds the (S, S) mask itself.
            return self.parallel_fn(queries, keys, values, igate_preact, fgate_preact,
                                    lower_triangular_matrix=None)
        L = min(self.chunk_size, S)
        pad = -S % L  # zeros after the sequence: later positions never affect earlier ones

        def padded(t: Tensor) -> Tensor:  # (B, NH, S, D) -> (B, NH, S + pad, D)
            return F.pad(t, (0, 0, 0, pad)).contiguous()

        h = self.chunkwise_fn(padded(queries), padded(keys), padded(values),
                              padded(igate_preact)[..., 0], padded(fgate_preact)[..., 0],
                              chunk_size=L)  # (B, NH, S + pad, DH)
        return h[:, :, :S]

    def __repr__(self) -> str:
        return f"MLSTMKernel(kind={self.kind!r}, chunk_size={self.chunk_size})"


class SLSTMLoop:
    """The vanilla sLSTM time loop, in place of ``sLSTMCell_vanilla._impl``.

    Same recurrence as the package's ``slstm_forward`` (block-diagonal recurrent matrix per
    head, the package's pointwise sLSTM update), but the states are collected in a list and
    stacked once, so the backward pass is linear in ``S``.

    ``loop(training, x (S, B, 4·H), state (4, B, H)) -> states (4, S + 1, B, H)``: ``x`` holds
    the input pre-activations in the cell's internal ``(gate, head, head_dim)`` order, the
    states are ``(y, c, n, m)``, ``states[:, 0]`` is the initial one.
    """

    def __init__(self, cell: nn.Module) -> None:
        self.cell = cell

    def __call__(self, training: bool, x: Tensor, state: Tensor) -> Tensor:
        cell = self.cell
        R = cell._recurrent_kernel  # (NH, G * DH, DH)
        b = cell._bias  # (G * NH * DH,)
        NH, GD, DH = R.shape
        G, B = GD // DH, x.shape[1]
        R_t = R.transpose(1, 2)  # (NH, DH, G * DH)
        states = [state]
        for wx in x.unbind(0):  # (B, G * NH * DH)
            y = state[0].reshape(B, NH, DH).transpose(0, 1)  # (NH, B, DH)
            ry = torch.bmm(y, R_t)  # (NH, B, G * DH)
            ry = ry.reshape(NH, B, G, DH).permute(1, 2, 0, 3).reshape(B, G * NH * DH)
            new, _ = cell.pointwise(wx, ry, b, state, constants=cell.config.constants)
            state = new.to(dtype=state.dtype)  # (4, B, H)
            states.append(state)
        return torch.stack(states, dim=1)  # (4, S + 1, B, H)

    def __repr__(self) -> str:
        return "SLSTMLoop()"


# ----------------------------------------------------------------------------- cores
class _XLSTMCore(nn.Module):
    """``embed -> xLSTMBlockStack -> readout`` over one-hot inputs (shared by both cores)."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int,
                 stack: nn.Module) -> None:
        super().__init__()
        self.input_size, self.output_size, self.hidden_size = input_size, output_size, hidden_size
        self.embed = haiku_linear(input_size, hidden_size)
        self.stack = stack
        self.readout = haiku_linear(hidden_size, output_size)

    def hidden(self, x: Tensor, parallel: bool = True) -> Tensor:
        """The stack's normalised outputs ``(B, S, H)`` for inputs ``x (B, S, V')``."""
        return self.stack(self.embed(x))

    def last_logits(self, x: Tensor, n: int) -> Tensor:
        """Logits ``(B, n, C)`` at the last ``n`` positions only (the readout is skipped
        elsewhere; the stack still runs over all ``S`` positions)."""
        return self.readout(self.hidden(x)[:, -n:])

    def forward(self, x: Tensor, input_length: int | None = None,
                parallel: bool = True) -> Tensor:
        """Logits ``(B, S, C)`` at every position; ``input_length`` is accepted for the
        protocol and ignored."""
        return self.readout(self.hidden(x, parallel=parallel))


class MLSTM(_XLSTMCore):
    """Pure mLSTM stack (xLSTM[1:0]) of the ``xlstm`` package's ``mLSTMBlock``\\ s.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C, number of output classes.
        hidden_size: H, the residual stream's width (the blocks run at
            ``ceil(proj_factor · H / 64) · 64`` inside).
        num_layers: L, number of mLSTM blocks.
        num_heads: mLSTM heads; must divide the inner width.
        proj_factor: the block's up-projection factor (paper: 2).
        conv_kernel_size: width of the block's causal depthwise convolution (>= 1).
        kernel: ``"auto"``, ``"parallel"`` or ``"chunkwise"`` (see the module docstring).
        chunk_size: chunk length of the chunkwise kernel.

    ``forward(x (B, S, V'), input_length=None, parallel=True) -> logits (B, S, C)`` for any
    ``S >= 1``; ``parallel=False`` runs the package's token-by-token recurrence (no
    gradients).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2, num_heads: int = 4, proj_factor: float = 2.0,
                 conv_kernel_size: int = 4, kernel: str = "auto",
                 chunk_size: int = 64) -> None:
        name = "mlstm"
        for key, value in (("hidden_size", hidden_size), ("num_layers", num_layers),
                           ("num_heads", num_heads), ("conv_kernel_size", conv_kernel_size),
                           ("chunk_size", chunk_size)):
            _positive_int(name, key, value)
        proj_factor = _proj_factor(name, proj_factor)
        if kernel not in MLSTM_KERNELS:
            raise ValueError(f"{name}: option 'kernel' must be one of {MLSTM_KERNELS}, "
                             f"got {kernel!r}")
        inner = _up_dim(hidden_size, proj_factor)
        if inner % num_heads:
            raise ValueError(f"{name}: num_heads={num_heads} must divide the inner width "
                             f"{inner} (= ceil({proj_factor} * {hidden_size} / 64) * 64)")
        _import_xlstm(name)
        from xlstm import (
            mLSTMBlockConfig,
            mLSTMLayerConfig,
            xLSTMBlockStack,
            xLSTMBlockStackConfig,
        )
        from xlstm.blocks.mlstm.backends import chunkwise_simple, parallel_stabilized_simple

        layer = mLSTMLayerConfig(conv1d_kernel_size=conv_kernel_size, qkv_proj_blocksize=4,
                                 num_heads=num_heads, proj_factor=proj_factor)
        # context_length only sizes the cell's causal-mask buffer, which MLSTMKernel does not
        # use (and which is dropped below): 1 keeps it tiny.
        stack = xLSTMBlockStack(xLSTMBlockStackConfig(
            mlstm_block=mLSTMBlockConfig(mlstm=layer), slstm_block=None, context_length=1,
            num_blocks=num_layers, embedding_dim=hidden_size, add_post_blocks_norm=True,
            bias=False, dropout=0.0, slstm_at=[]))
        super().__init__(input_size, output_size, hidden_size, stack)
        self.num_layers, self.num_heads, self.proj_factor = num_layers, num_heads, proj_factor
        self.kernel, self.chunk_size = kernel, chunk_size
        cell_kernel = MLSTMKernel(kernel, chunk_size, parallel_stabilized_simple,
                                  chunkwise_simple)
        for block in stack.blocks:
            cell = block.xlstm.mlstm_cell
            cell.backend_fn = cell_kernel
            cell.causal_mask = None  # (context_length, context_length) buffer, now unused

    def hidden(self, x: Tensor, parallel: bool = True) -> Tensor:
        """The stack's normalised outputs ``(B, S, H)``; ``parallel=False``: step by step."""
        h = self.embed(x)  # (B, S, H)
        if parallel:
            return self.stack(h)
        if h.requires_grad:
            raise RuntimeError("mlstm: parallel=False (the package's step recurrence) updates "
                               "its state in place and cannot be differentiated; run it "
                               "under torch.no_grad()")
        state: dict[str, Any] = {}
        outs = []
        for t in range(h.shape[1]):
            out, state = self.stack.step(h[:, t : t + 1], state)  # (B, 1, H)
            outs.append(out)
        return torch.cat(outs, dim=1)


class SLSTM(_XLSTMCore):
    """Pure sLSTM stack (xLSTM[0:1]) of the ``xlstm`` package's ``sLSTMBlock``\\ s.

    Args:
        input_size: V', width of the (one-hot) inputs.
        output_size: C, number of output classes.
        hidden_size: H, the residual stream's and the sLSTM's width.
        num_layers: L, number of sLSTM blocks (each with its gated feed-forward).
        num_heads: sLSTM heads; must divide H, with at least 2 units per head.
        proj_factor: up-projection factor of the blocks' gated feed-forward (paper: 4/3,
            package default 1.3).
        conv_kernel_size: width of the causal depthwise convolution before the input and
            forget gates (0: none).

    ``forward(x (B, S, V'), input_length=None, parallel=True) -> logits (B, S, C)`` for any
    ``S >= 1``; ``parallel`` is ignored (the sLSTM is evaluated step by step).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 256,
                 num_layers: int = 2, num_heads: int = 4, proj_factor: float = 1.3,
                 conv_kernel_size: int = 4) -> None:
        name = "slstm"
        for key, value in (("hidden_size", hidden_size), ("num_layers", num_layers),
                           ("num_heads", num_heads)):
            _positive_int(name, key, value)
        proj_factor = _proj_factor(name, proj_factor)
        if (not isinstance(conv_kernel_size, int) or isinstance(conv_kernel_size, bool)
                or conv_kernel_size < 0):
            raise ValueError(f"{name}: option 'conv_kernel_size' must be an int >= 0, "
                             f"got {conv_kernel_size!r}")
        if hidden_size % num_heads or hidden_size // num_heads < 2:
            raise ValueError(f"{name}: num_heads={num_heads} must divide hidden_size="
                             f"{hidden_size} with at least 2 units per head")
        _import_xlstm(name)
        from xlstm import (
            FeedForwardConfig,
            sLSTMBlockConfig,
            sLSTMLayerConfig,
            xLSTMBlockStack,
            xLSTMBlockStackConfig,
        )

        layer = sLSTMLayerConfig(backend="vanilla", num_heads=num_heads,
                                 conv1d_kernel_size=conv_kernel_size,
                                 bias_init="powerlaw_blockdependent")
        ffn = FeedForwardConfig(proj_factor=proj_factor, act_fn="gelu")
        stack = xLSTMBlockStack(xLSTMBlockStackConfig(
            mlstm_block=None, slstm_block=sLSTMBlockConfig(slstm=layer, feedforward=ffn),
            num_blocks=num_layers, embedding_dim=hidden_size, add_post_blocks_norm=True,
            bias=False, dropout=0.0, slstm_at="all"))
        super().__init__(input_size, output_size, hidden_size, stack)
        self.num_layers, self.num_heads, self.proj_factor = num_layers, num_heads, proj_factor
        for block in stack.blocks:
            cell = block.xlstm.slstm_cell
            cell._impl = SLSTMLoop(cell)
