"""DeltaNet and Mamba cores: the parallel forms against their recurrences, causality,
gradients, the β ranges of DeltaNet's eigenvalue options, and option validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from prlstm.models.deltanet import DeltaNet, DeltaNetMixer, delta_rule_chunked, delta_rule_ref
from prlstm.models.mamba import Mamba, MambaMixer, _CausalConv
from prlstm.models.selective_scan import selective_scan, selective_scan_ref

LENGTHS = (1, 2, 7, 33, 40)
TOL = {"atol": 1e-10, "rtol": 1e-10}


def one_hots(B: int, S: int, V: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return nn.functional.one_hot(torch.randint(0, V, (B, S), generator=g), V).double()


def randomise_(module: nn.Module, scale: float = 0.3, seed: int = 0) -> nn.Module:
    """Perturb every parameter (biases, D, A_log, norm weights included) in float64."""
    module.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def make_core(name: str, **kw: object) -> nn.Module:
    torch.manual_seed(0)
    if name == "mamba":
        core: nn.Module = Mamba(3, 2, hidden_size=8, num_layers=2, state_size=4, **kw)
    else:
        core = DeltaNet(3, 2, hidden_size=8, num_layers=2, num_heads=2, chunk_size=8, **kw)
    return randomise_(core)


CORES = [("mamba", {}), ("deltanet", {"eigenvalues": "positive"}),
         ("deltanet", {"eigenvalues": "negative"})]


# ----------------------------------------------------------------------------- equivalence
def scan_inputs(B: int, T: int, E: int, N: int, seed: int) -> tuple[Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    kw = {"generator": g, "dtype": torch.float64}
    return (torch.randn(B, T, E, **kw), torch.rand(B, T, E, **kw) * 2,
            -torch.rand(E, N, **kw) * 4, torch.randn(B, T, N, **kw),
            torch.randn(B, T, N, **kw))


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize(("chunk", "block"), [(None, None), (1, 1), (3, 2), (8, None)])
def test_selective_scan_matches_loop_with_gradients(T: int, chunk: int | None,
                                                    block: int | None) -> None:
    args = [t.requires_grad_() for t in scan_inputs(3, T, 5, 4, seed=T)]
    got = selective_scan(*args, chunk_size=chunk, batch_block=block)
    want = selective_scan_ref(*args)
    torch.testing.assert_close(got, want, **TOL)
    gy = torch.randn_like(got)
    for g_got, g_want in zip(torch.autograd.grad(got, args, gy),
                             torch.autograd.grad(want, args, gy), strict=True):
        torch.testing.assert_close(g_got, g_want, **TOL)


def test_selective_scan_without_grad() -> None:
    args = scan_inputs(2, 11, 5, 4, seed=1)
    with torch.no_grad():  # keeps only the latest chunk boundary
        got = selective_scan(*args, chunk_size=3)
    torch.testing.assert_close(got, selective_scan_ref(*args), **TOL)


def test_causal_conv_gradcheck_and_loop() -> None:
    torch.manual_seed(0)
    for T, K in [(1, 4), (3, 4), (6, 2), (5, 1)]:
        mixer = randomise_(MambaMixer(4, state_size=2, conv_size=K))
        x = torch.randn(2, T, 8, dtype=torch.float64, requires_grad=True)
        torch.testing.assert_close(mixer.conv(x), mixer.conv_ref(x), **TOL)
        assert torch.autograd.gradcheck(_CausalConv.apply,
                                        (x, mixer.conv_weight, mixer.conv_bias))


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("chunk", [1, 4, 16, 64])
def test_delta_rule_chunked_matches_loop(T: int, chunk: int) -> None:
    g = torch.Generator().manual_seed(T)
    kw = {"generator": g, "dtype": torch.float64}
    q, k = (nn.functional.normalize(torch.randn(3, 2, T, 4, **kw), dim=-1) for _ in "qk")
    v, beta = torch.randn(3, 2, T, 5, **kw), 2 * torch.rand(3, 2, T, **kw)
    args = [t.requires_grad_() for t in (q, k, v, beta)]
    got, want = delta_rule_chunked(*args, chunk_size=chunk), delta_rule_ref(*args)
    torch.testing.assert_close(got, want, **TOL)
    go = torch.randn_like(got)
    for g_got, g_want in zip(torch.autograd.grad(got, args, go),
                             torch.autograd.grad(want, args, go), strict=True):
        torch.testing.assert_close(g_got, g_want, **TOL)


@pytest.mark.parametrize("T", LENGTHS)
def test_mixers_parallel_equal_step(T: int) -> None:
    torch.manual_seed(T)
    mixers = [randomise_(MambaMixer(8, state_size=4)),
              randomise_(DeltaNetMixer(8, num_heads=2, chunk_size=16)),
              randomise_(DeltaNetMixer(8, num_heads=4, eigenvalues="negative", chunk_size=8))]
    u = torch.randn(3, T, 8, dtype=torch.float64)
    for mixer in mixers:
        torch.testing.assert_close(mixer(u), mixer(u, parallel=False), **TOL)


@pytest.mark.parametrize(("name", "kw"), CORES)
def test_cores_parallel_equal_step(name: str, kw: dict) -> None:
    core = make_core(name, **kw)
    for T in LENGTHS:
        x = one_hots(3, T, 3, seed=T)
        torch.testing.assert_close(core(x, input_length=T),
                                   core(x, input_length=T, parallel=False), **TOL)


def test_mamba_last_logits_equal_forward() -> None:
    core = make_core("mamba")
    x = one_hots(3, 9, 3)
    for n in (1, 4, 9):
        torch.testing.assert_close(core.last_logits(x, n), core(x)[:, -n:], **TOL)


# ----------------------------------------------------------------------------- causality
@pytest.mark.parametrize(("name", "kw"), CORES)
def test_causal(name: str, kw: dict) -> None:
    core = make_core(name, **kw)
    S = 12
    x = one_hots(2, S, 3)
    base = core(x)
    for t in range(S - 1):
        x2 = x.clone()
        x2[:, t + 1] = x2[:, t + 1].roll(1, dims=-1)  # another token at t + 1
        out = core(x2)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], atol=0, rtol=0)
        assert not torch.allclose(out[:, t + 1], base[:, t + 1])


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(("name", "kw"), CORES)
def test_gradients_reach_every_parameter(name: str, kw: dict) -> None:
    core = make_core(name, **kw).float()
    x = one_hots(4, 10, 3).float()
    core(x)[:, -3:].pow(2).sum().backward()
    for pname, p in core.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


# ----------------------------------------------------------------------------- specifics
def test_deltanet_beta_ranges() -> None:
    torch.manual_seed(0)
    u = 3 * torch.randn(4, 50, 16)
    pos = DeltaNetMixer(16, num_heads=4, eigenvalues="positive")
    neg = DeltaNetMixer(16, num_heads=4, eigenvalues="negative")
    with torch.no_grad():
        neg.beta_proj.weight.copy_(pos.beta_proj.weight)
    b_pos, b_neg = pos.beta(u), neg.beta(u)  # (B, heads, T)
    assert b_pos.shape == (4, 4, 50)
    assert 0 < b_pos.min() and b_pos.max() < 1
    assert 0 < b_neg.min() and b_neg.max() < 2 and b_neg.max() > 1
    torch.testing.assert_close(b_neg, 2 * b_pos)


def test_mamba_initialisation() -> None:
    torch.manual_seed(0)
    mixer = MambaMixer(32, state_size=16)
    assert mixer.inner_size == 64 and mixer.dt_rank == 2  # expand 2, ceil(32 / 16)
    dt = nn.functional.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    torch.testing.assert_close(-torch.exp(mixer.A_log),
                               -torch.arange(1, 17.0).expand(64, 16))
    assert torch.equal(mixer.D, torch.ones(64))
    assert MambaMixer(20).dt_rank == math.ceil(20 / 16)


@pytest.mark.parametrize(("make", "option"), [
    (lambda: Mamba(3, 2, hidden_size=0), "hidden_size"),
    (lambda: Mamba(3, 2, num_layers=0), "num_layers"),
    (lambda: Mamba(3, 2, state_size=0), "state_size"),
    (lambda: Mamba(3, 2, expand=1.5), "expand"),
    (lambda: Mamba(3, 2, conv_size=0), "conv_size"),
    (lambda: MambaMixer(8, dt_rank=0), "dt_rank"),
    (lambda: DeltaNet(3, 2, hidden_size=10, num_heads=4), "num_heads"),
    (lambda: DeltaNet(3, 2, num_heads=0), "num_heads"),
    (lambda: DeltaNet(3, 2, hidden_size=-4), "hidden_size"),
    (lambda: DeltaNet(3, 2, num_layers=0), "num_layers"),
    (lambda: DeltaNet(3, 2, eigenvalues="complex"), "eigenvalues"),
    (lambda: DeltaNet(3, 2, chunk_size=0), "chunk_size"),
])
def test_bad_options(make: object, option: str) -> None:
    with pytest.raises(ValueError, match=option) as err:
        make()  # type: ignore[operator]
    assert "\n" not in str(err.value)
