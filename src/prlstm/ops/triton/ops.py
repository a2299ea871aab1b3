"""``torch.library`` custom ops around the Triton scan, with autograd and fake kernels.

Two ops, each with a backward op:

* ``prlstm::lstm_tree_scan(h0, c0, weights, biases, chunk)`` — the whole tree scan of one
  layer (:mod:`prlstm.ops.triton.tree`, with the chunk kernels when ``chunk``); returns
  ``(out_h, out_c, roots_h, roots_c)``, the roots being the workspace its backward needs.
* ``prlstm::lstm_combine(hl, cl, hr, cr, weights, biases)`` — one batch of combines, a
  drop-in for ``CombineCell.combine`` that any backend's round structure can call.

Being custom ops with fake implementations, they are opaque single nodes to
``torch.compile`` (no graph break, no tracing into Triton). ``weights`` are in the GEMM dtype
(fp32 or bf16), ``biases`` fp32; h comes back in the GEMM dtype and c in fp32. Autocast is
resolved by the Python wrappers :func:`tree_scan` and :func:`combine` before the op runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from prlstm.ops.triton.rounds import Weights

_F32 = torch.float32


@contextlib.contextmanager
def _kernel_context(t: Tensor) -> Iterator[None]:
    """Run on ``t``'s device with autocast off (the op's inner torch calls are exact)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast(t.device.type, enabled=False))
        if t.is_cuda:
            stack.enter_context(torch.cuda.device(t.device))
        yield


def _like(t: Tensor) -> Tensor:
    """A contiguous tensor of ``t``'s shape and dtype (the real kernels return contiguous)."""
    return t.new_empty(t.shape)


# ------------------------------------------------------------------------------- tree scan
@torch.library.custom_op("prlstm::lstm_tree_scan", mutates_args=())
def lstm_tree_scan(h0: Tensor, c0: Tensor, weights: list[Tensor], biases: list[Tensor],
                   chunk: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """All prefix states of leaves ``h0, c0 (B, T, H)``; see the module docstring.

    ``chunk``: 0, or the chunk size of the forward's chunk kernels (same numbers). It has no
    default on purpose: a defaulted int argument left at its default trips the autograd
    wrapper's input/gradient structure check in torch 2.13.
    """
    from prlstm.ops.triton.tree import scan_fwd

    with _kernel_context(h0):
        return scan_fwd(Weights.build(weights, biases), h0.contiguous(),
                        c0.to(_F32).contiguous(), chunk)


@lstm_tree_scan.register_fake
def _(h0: Tensor, c0: Tensor, weights: list[Tensor], biases: list[Tensor], chunk: int
      ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    dt = weights[0].dtype
    return (h0.new_empty(h0.shape, dtype=dt), h0.new_empty(h0.shape, dtype=_F32),
            h0.new_empty(h0.shape, dtype=dt), h0.new_empty(h0.shape, dtype=_F32))


@torch.library.custom_op("prlstm::lstm_tree_scan_bwd", mutates_args=())
def lstm_tree_scan_bwd(h0: Tensor, c0: Tensor, out_h: Tensor, out_c: Tensor, roots_h: Tensor,
                       roots_c: Tensor, g_h: Tensor, g_c: Tensor, weights: list[Tensor],
                       biases: list[Tensor]) -> list[Tensor]:
    """``[g_h0, g_c0, *g_weights, *g_biases]`` of :func:`lstm_tree_scan`."""
    from prlstm.ops.triton.tree import scan_bwd

    with _kernel_context(h0):
        g_h0, g_c0, g_w, g_b = scan_bwd(
            Weights.build(weights, biases), h0.contiguous(), c0.to(_F32).contiguous(),
            (out_h, out_c), (roots_h, roots_c), (g_h, g_c))
    return [g_h0.to(h0.dtype), g_c0.to(c0.dtype), *(g.to(w.dtype) for g, w in
                                                     zip(g_w, weights, strict=True)),
            *(g.to(b.dtype) for g, b in zip(g_b, biases, strict=True))]


@lstm_tree_scan_bwd.register_fake
def _(h0: Tensor, c0: Tensor, out_h: Tensor, out_c: Tensor, roots_h: Tensor, roots_c: Tensor,
      g_h: Tensor, g_c: Tensor, weights: list[Tensor], biases: list[Tensor]) -> list[Tensor]:
    return [_like(t) for t in (h0, c0, *weights, *biases)]


def _scan_setup(ctx: object, inputs: tuple, output: tuple) -> None:
    h0, c0, weights, biases, _chunk = inputs
    ctx.n_w = len(weights)  # type: ignore[attr-defined]
    ctx.save_for_backward(h0, c0, *output, *weights, *biases)  # type: ignore[attr-defined]


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g


def _scan_backward(ctx: object, g_h: Tensor | None, g_c: Tensor | None, _g_rh: object,
                   _g_rc: object) -> tuple:
    h0, c0, out_h, out_c, roots_h, roots_c, *params = ctx.saved_tensors  # type: ignore
    n_w = ctx.n_w  # type: ignore[attr-defined]
    weights, biases = params[:n_w], params[n_w:]
    grads = torch.ops.prlstm.lstm_tree_scan_bwd(
        h0, c0, out_h, out_c, roots_h, roots_c, _zeros_if_none(g_h, out_h),
        _zeros_if_none(g_c, out_c), weights, biases)
    return grads[0], grads[1], list(grads[2 : 2 + n_w]), list(grads[2 + n_w :]), None


lstm_tree_scan.register_autograd(_scan_backward, setup_context=_scan_setup)


# --------------------------------------------------------------------------------- combine
def _round_views(ts: list[Tensor]) -> tuple[int, int, list]:
    """``(B, m, views)`` for same-shaped ``(..., H)`` tensors."""
    from prlstm.ops.triton.tree import as_view

    shape = ts[0].shape
    B, m = (shape[0], shape[1]) if len(shape) == 3 else (1, max(1, shape[:-1].numel()))
    return B, m, [as_view(t, B, m) for t in ts]


@torch.library.custom_op("prlstm::lstm_combine", mutates_args=())
def lstm_combine(hl: Tensor, cl: Tensor, hr: Tensor, cr: Tensor, weights: list[Tensor],
                 biases: list[Tensor]) -> tuple[Tensor, Tensor]:
    """``(hl, cl) ⊕ (hr, cr)`` on same-shaped ``(..., H)`` states -> ``(h, c)``."""
    from prlstm.ops.triton.tree import combine_fwd

    H = weights[0].shape[1] // 2
    if hl.numel() == 0:
        return hl.new_empty(hl.shape, dtype=weights[0].dtype), hl.new_empty(hl.shape, dtype=_F32)
    with _kernel_context(hl):
        B, m, (vhl, vcl, vhr, vcr) = _round_views([hl, cl, hr, cr])
        h, c = combine_fwd(Weights.build(weights, biases), (vhl, vcl), (vhr, vcr), B, m)
    return h.reshape(*hl.shape[:-1], H), c.reshape(*hl.shape[:-1], H)


@lstm_combine.register_fake
def _(hl: Tensor, cl: Tensor, hr: Tensor, cr: Tensor, weights: list[Tensor],
      biases: list[Tensor]) -> tuple[Tensor, Tensor]:
    return hl.new_empty(hl.shape, dtype=weights[0].dtype), hl.new_empty(hl.shape, dtype=_F32)


@torch.library.custom_op("prlstm::lstm_combine_bwd", mutates_args=())
def lstm_combine_bwd(hl: Tensor, cl: Tensor, hr: Tensor, cr: Tensor, g_h: Tensor, g_c: Tensor,
                     weights: list[Tensor], biases: list[Tensor]) -> list[Tensor]:
    """``[g_hl, g_cl, g_hr, g_cr, *g_weights, *g_biases]`` of :func:`lstm_combine`."""
    from prlstm.ops.triton.rounds import round_bwd

    f32 = {"dtype": _F32, "device": hl.device}
    grads = [torch.zeros(hl.shape, **f32) for _ in range(4)]
    g_w = [torch.zeros(w.shape, **f32) for w in weights]
    g_b = [torch.zeros(b.shape, **f32) for b in biases]
    if hl.numel():
        with _kernel_context(hl):
            B, m, v = _round_views([hl, cl, hr, cr, g_h.to(_F32), g_c.to(_F32), *grads])
            round_bwd(Weights.build(weights, biases), B, m, (v[0], v[1]), (v[2], v[3]),
                      (v[4], v[5]), (v[6], v[7]), (v[8], v[9]), g_w, g_b)
    return [*(g.to(t.dtype) for g, t in zip(grads, (hl, cl, hr, cr), strict=True)),
            *(g.to(w.dtype) for g, w in zip(g_w, weights, strict=True)),
            *(g.to(b.dtype) for g, b in zip(g_b, biases, strict=True))]


@lstm_combine_bwd.register_fake
def _(hl: Tensor, cl: Tensor, hr: Tensor, cr: Tensor, g_h: Tensor, g_c: Tensor,
      weights: list[Tensor], biases: list[Tensor]) -> list[Tensor]:
    return [_like(t) for t in (hl, cl, hr, cr, *weights, *biases)]


def _combine_setup(ctx: object, inputs: tuple, output: tuple) -> None:
    hl, cl, hr, cr, weights, biases = inputs
    ctx.n_w = len(weights)  # type: ignore[attr-defined]
    ctx.save_for_backward(hl, cl, hr, cr, *weights, *biases)  # type: ignore[attr-defined]


def _combine_backward(ctx: object, g_h: Tensor | None, g_c: Tensor | None) -> tuple:
    hl, cl, hr, cr, *params = ctx.saved_tensors  # type: ignore[attr-defined]
    n_w = ctx.n_w  # type: ignore[attr-defined]
    weights, biases = params[:n_w], params[n_w:]
    g = torch.ops.prlstm.lstm_combine_bwd(
        hl, cl, hr, cr, _zeros_if_none(g_h, hl).to(weights[0].dtype),
        _zeros_if_none(g_c, cl).to(_F32), weights, biases)
    return g[0], g[1], g[2], g[3], list(g[4 : 4 + n_w]), list(g[4 + n_w :])


lstm_combine.register_autograd(_combine_backward, setup_context=_combine_setup)
