"""The hand-written LSTM epilogue backward against autograd of the plain formula."""

import pytest
import torch

from prlstm.epilogue import lstm_epilogue


def _plain(z, cs, H):
    c = torch.sigmoid(z[..., :H]) * torch.tanh(z[..., H : 2 * H])
    for j, c_j in enumerate(cs):
        c = c + torch.sigmoid(z[..., (3 + j) * H : (4 + j) * H]) * c_j
    return torch.sigmoid(z[..., 2 * H : 3 * H]) * torch.tanh(c), c


@pytest.mark.parametrize("k", [0, 1, 2])
def test_epilogue_values_and_gradients(k):
    torch.manual_seed(k)
    H = 5
    z = torch.randn(3, 4, (3 + k) * H, dtype=torch.float64, requires_grad=True)
    cs = tuple(torch.randn(3, 4, H, dtype=torch.float64, requires_grad=True) for _ in range(k))
    assert torch.autograd.gradcheck(lambda z, *cs: lstm_epilogue(z, cs, H), (z, *cs))
    ours, ref = lstm_epilogue(z, cs, H), _plain(z, cs, H)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)
    z_before = z.detach().clone()
    lstm_epilogue(z, cs, H)
    assert torch.equal(z.detach(), z_before)  # the autograd path never modifies its input
    with torch.no_grad():  # the inference path (works in place on a fresh buffer)
        for a, b in zip(lstm_epilogue(z.clone(), cs, H), ref, strict=True):
            torch.testing.assert_close(a, b, atol=1e-14, rtol=0)
