"""The one-time check behind ``backend="auto"``: do the kernels work on this device and dtype?

Before ``auto`` routes a layer through the Triton kernels on a device it runs a small forward
and backward of the fused tree op against the level-wise rounds with the plain combine
(values and every gradient), once per process for each ``(device, dtype)``. On a mismatch
or an error it warns once and ``auto`` stays on ``levelwise`` there. The check runs
wherever the kernels run, so the tests exercise it on a CPU under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

__all__ = ["compare", "reset", "verified"]

_RESULTS: dict[tuple[str, torch.dtype], bool] = {}
# Relative to the largest magnitude of each compared tensor: fp32 kernels agree to a few
# 1e-6 in the tests; bf16/fp16 GEMMs are compared with the torch backend under autocast.
_TOL = {torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 2e-2}


def _run(scan, cell, x: Tensor, w: Tensor, dtype: torch.dtype) -> list[Tensor]:
    """``h, c`` and the gradients of ``x`` and every parameter of a weighted sum of them."""
    cell.zero_grad()
    x = x.clone().requires_grad_(True)
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
        h, c = scan(cell.leaf_state(x))
    ((h.float() * w).sum() + (c.float() * w.flip(1)).sum()).backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in cell.parameters()]
    return [h.detach().float(), c.detach().float(), x.grad, *grads]


def compare(device: torch.device | str, dtype: torch.dtype, hidden: int = 16,
            length: int = 11) -> str | None:
    """A small fused scan against the level-wise one on ``device`` with GEMMs in ``dtype``.

    Returns ``None`` when values and gradients agree, else what went wrong (one line). Uses
    its own seeds: the caller's random state is left as it was.
    """
    from prlstm.cells import CombineCell
    from prlstm.ops import levelwise
    from prlstm.ops import triton as tri

    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cell = CombineCell(3, hidden, "lstm", 1).to(device)
        x = torch.randn(2, length, 3).to(device)
        w = torch.randn(2, length, hidden).to(device)
    fused = tri.make_combine(cell)
    try:
        got = _run(lambda leaves: tri.BACKEND.prefix(fused, leaves), cell, x, w, dtype)
    except Exception as err:  # a kernel that cannot run is a failed check
        return f"{type(err).__name__}: {err}".splitlines()[0]
    want = _run(lambda leaves: levelwise.BACKEND.prefix(cell.combine, leaves), cell, x, w, dtype)
    names = ["h", "c", "grad x", *(f"grad {n}" for n, _ in cell.named_parameters())]
    for name, a, b in zip(names, got, want, strict=True):
        err = (a - b).abs().max().item()
        if not err <= _TOL[dtype] * max(1.0, b.abs().max().item()):  # NaN fails too
            return f"{name} differs from levelwise by {err:.3g}"
    return None


def verified(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether the kernels passed :func:`compare` on ``device`` and ``dtype`` (run once per
    process and cached; a failure warns once). Inside ``torch.compile`` an unchecked pair
    counts as failed: the check cannot run in a graph (call the layer eagerly once first)."""
    device = torch.device(device)
    key = (str(device), dtype)
    if key not in _RESULTS:
        if dtype not in _TOL or torch.compiler.is_compiling():
            return False
        problem = compare(device, dtype)
        if problem is not None:
            warnings.warn(f"prlstm: the triton kernels failed their check on {device} with "
                          f"{dtype} ({problem}); backend='auto' uses 'levelwise' there",
                          RuntimeWarning, stacklevel=3)
        _RESULTS[key] = problem is None
    return _RESULTS[key]


def reset() -> None:
    """Forget every cached result (tests)."""
    _RESULTS.clear()
