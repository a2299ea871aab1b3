"""Linear CKA and its unbiased minibatch estimator (docs/experiments.md#state-similarity-cka).

``linear_cka(X, Y)`` is Kornblith et al. (2019): centre every column, then
``‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F)``. ``minibatch_cka`` is Nguyen et al. (2021): the mean over
minibatches of the unbiased HSIC₁ of zeroed-diagonal linear-kernel Gram matrices, normalised
as ``mean HSIC₁(K, L) / sqrt(mean HSIC₁(K, K) · mean HSIC₁(L, L))``. Both take tensors or
arrays of shape (n, p) and (n, q) — rows are the same n inputs — and compute in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def _matrix(name: str, value: Any) -> Tensor:
    """``value`` as a float64 CPU tensor (n, p); ValueError/TypeError naming ``name``."""
    if isinstance(value, Tensor):
        m = value.detach().to("cpu", torch.float64)
    elif isinstance(value, np.ndarray):
        m = torch.from_numpy(np.asarray(value, dtype=np.float64))
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got "
                        f"{type(value).__name__}")
    if m.dim() != 2 or m.shape[0] < 2 or m.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D (n, features) matrix with n >= 2, got shape "
                         f"{tuple(m.shape)}")
    return m


def _pair(X: Any, Y: Any) -> tuple[Tensor, Tensor]:
    x, y = _matrix("X", X), _matrix("Y", Y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y must hold the same n inputs (rows), got {x.shape[0]} and "
                         f"{y.shape[0]}")
    return x, y


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA of ``X`` (n, p) and ``Y`` (n, q), a number in [0, 1].

    Raises:
        ValueError: shapes differ in n, or a matrix has no variance (every row the same).
    """
    x, y = _pair(X, Y)
    x, y = x - x.mean(0), y - y.mean(0)
    xx, yy = torch.linalg.matrix_norm(x.T @ x), torch.linalg.matrix_norm(y.T @ y)
    for name, norm in (("X", xx), ("Y", yy)):
        if norm == 0:
            raise ValueError(f"{name} has zero variance (all rows equal); CKA is undefined")
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / (xx * yy))


def hsic1(K: Tensor, L: Tensor) -> Tensor:
    """Unbiased HSIC₁ of two (n, n) Gram matrices (their diagonals are ignored), n >= 4."""
    n = K.shape[0]
    if n < 4 or K.shape != (n, n) or L.shape != (n, n):
        raise ValueError(f"K and L must be (n, n) with n >= 4, got {tuple(K.shape)} and "
                         f"{tuple(L.shape)}")
    K = K - torch.diag_embed(torch.diagonal(K))
    L = L - torch.diag_embed(torch.diagonal(L))
    ones = torch.ones(n, dtype=K.dtype)
    trace = (K * L.T).sum()
    middle = K.sum() * L.sum() / ((n - 1) * (n - 2))
    last = 2 * (ones @ K) @ (L @ ones) / (n - 2)
    return (trace + middle - last) / (n * (n - 3))


def linear_hsic1(X: Tensor, Y: Tensor) -> Tensor:
    """:func:`hsic1` of the linear kernels ``K = X Xᵀ``, ``L = Y Yᵀ`` from the features, in
    O(n·p·q) instead of forming the (n, n) Gram matrices (same number up to rounding)."""
    n = X.shape[0]
    if n < 4:
        raise ValueError(f"hsic1 needs n >= 4 rows, got {n}")
    dx, dy = (X * X).sum(1), (Y * Y).sum(1)  # (n,) the Gram diagonals, zeroed below
    trace = (Y.T @ X).square().sum() - (dx * dy).sum()  # tr(K̃ L̃)
    k1, l1 = X @ X.sum(0) - dx, Y @ Y.sum(0) - dy  # K̃ 1, L̃ 1  (n,)
    middle = k1.sum() * l1.sum() / ((n - 1) * (n - 2))
    return (trace + middle - 2 * (k1 @ l1) / (n - 2)) / (n * (n - 3))


def minibatch_cka(X: Any, Y: Any, batch_size: int = 1024, seed: int = 0) -> float:
    """Unbiased minibatch linear CKA of ``X`` (n, p) and ``Y`` (n, q).

    Rows are shuffled with ``seed`` and split into minibatches of ``batch_size`` (a trailing
    remainder smaller than 4 rows is dropped). Same seed, same number.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 4:
        raise ValueError(f"batch_size must be an int >= 4, got {batch_size!r}")
    x, y = _pair(X, Y)
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"minibatch CKA needs n >= 4 rows, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    kl = kk = ll = torch.zeros((), dtype=torch.float64)
    for rows in order.split(batch_size):
        if rows.numel() < 4:
            continue
        xb, yb = x[rows], y[rows]
        kl = kl + linear_hsic1(xb, yb)
        kk, ll = kk + linear_hsic1(xb, xb), ll + linear_hsic1(yb, yb)
    for name, value in (("X", kk), ("Y", ll)):
        if value <= 0:
            raise ValueError(f"{name} has no variance in its minibatches; CKA is undefined")
    return float(kl / torch.sqrt(kk * ll))
