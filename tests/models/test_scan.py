"""The parallel scans of the linear baselines equal their definitions."""

from __future__ import annotations

import pytest
import torch

from prlstm.models.scan import linear_scan, linear_scan_ref, log_cumsum_exp


@pytest.mark.parametrize("T", [1, 2, 3, 5, 8, 9, 40, 257])
def test_linear_scan_equals_the_loop_for_any_sign(T: int) -> None:
    g = torch.Generator().manual_seed(T)
    a = torch.rand(3, T, 4, 2, generator=g, dtype=torch.float64) * 2 - 1  # negative too
    b = torch.randn(3, T, 4, 2, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 4, 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(linear_scan(a, b), linear_scan_ref(a, b), atol=1e-12, rtol=0)
    torch.testing.assert_close(linear_scan(a, b, h0), linear_scan_ref(a, b, h0), atol=1e-12,
                               rtol=0)


def test_linear_scan_gradients_match_the_loop() -> None:
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(2, 11, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    b = torch.randn(2, 11, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 11, 3, generator=g, dtype=torch.float64)
    grads = [torch.autograd.grad((f(a, b) * w).sum(), (a, b))
             for f in (linear_scan, linear_scan_ref)]
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_linear_scan_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        linear_scan(torch.ones(1, 3, 2), torch.ones(1, 3, 1))


@pytest.mark.parametrize("T", [1, 2, 7, 41, 1000])
def test_log_cumsum_exp_equals_torch(T: int) -> None:
    x = torch.randn(2, T, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(T))
    x[:, ::3] -= 700.0  # far apart magnitudes: no overflow, no loss of the large terms
    torch.testing.assert_close(log_cumsum_exp(x), torch.logcumsumexp(x, dim=1), atol=1e-12,
                               rtol=1e-12)
