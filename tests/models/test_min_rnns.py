"""minGRU, minLSTM (Feng et al. 2024) and the diagonal linear RNN (Grazzi et al. 2024)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prlstm.models.min_rnns import (
    LinearRNN,
    LinearRNNMixer,
    MinGRU,
    MinGRUMixer,
    MinLSTM,
    MinLSTMMixer,
    g,
    log_g,
    log_space_scan,
)
from prlstm.models.protocol import BenchmarkModel
from prlstm.models.scan import linear_scan_ref

V, C = 3, 2  # one-hot width and classes of the test cores

#: name -> (core factory, mixer factory)
KINDS: dict[str, tuple[Callable[..., nn.Module], Callable[[int], nn.Module]]] = {
    "mingru": (MinGRU, MinGRUMixer),
    "minlstm": (MinLSTM, MinLSTMMixer),
    "linear_rnn_positive": (lambda *a, **k: LinearRNN(*a, eigenvalues="positive", **k),
                            lambda H: LinearRNNMixer(H, "positive")),
    "linear_rnn_negative": (lambda *a, **k: LinearRNN(*a, eigenvalues="negative", **k),
                            lambda H: LinearRNNMixer(H, "negative")),
}


def one_hots(B: int, S: int, seed: int = 0) -> Tensor:
    """Random one-hot inputs ``(B, S, V)`` in float64."""
    gen = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, V, (B, S), generator=gen), V).double()


def perturbed(module: nn.Module, seed: int = 0, scale: float = 0.3) -> nn.Module:
    """``module`` in float64 with noise on every parameter (non-zero biases, LayerNorm affine)."""
    torch.manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def core(kind: str, H: int = 6, L: int = 2, seed: int = 0) -> nn.Module:
    """A perturbed float64 core of the given kind."""
    torch.manual_seed(seed)
    return perturbed(KINDS[kind][0](V, C, hidden_size=H, num_layers=L), seed)


def mixer(kind: str, H: int = 5, seed: int = 0) -> nn.Module:
    """A perturbed float64 mixer of the given kind."""
    torch.manual_seed(seed)
    return perturbed(KINDS[kind][1](H), seed)


# ----------------------------------------------------------------------------- helpers
def test_log_g_is_log_of_g() -> None:
    v = torch.linspace(-60, 60, 1201, dtype=torch.float64)  # beyond softplus's threshold
    torch.testing.assert_close(log_g(v), torch.log(g(v)), rtol=1e-12, atol=1e-12)
    assert (g(v) > 0).all()


@pytest.mark.parametrize("T", [1, 2, 7, 40])
def test_log_space_scan_matches_loop(T: int) -> None:
    gen = torch.Generator().manual_seed(T)
    a = torch.rand(3, T, 4, generator=gen, dtype=torch.float64) + 0.01
    b = torch.rand(3, T, 4, generator=gen, dtype=torch.float64) * 3 + 0.01
    torch.testing.assert_close(log_space_scan(a.log(), b.log()), linear_scan_ref(a, b),
                               rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- (1) equivalence
@pytest.mark.parametrize("T", [1, 2, 7, 40])
@pytest.mark.parametrize("kind", list(KINDS))
def test_core_parallel_matches_loop(kind: str, T: int) -> None:
    model = core(kind)
    x = one_hots(3, T)
    out = model(x, input_length=T)
    assert out.shape == (3, T, C) and out.dtype == torch.float64
    torch.testing.assert_close(out, model(x, input_length=T, parallel=False),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("T", [1, 2, 7, 40])
@pytest.mark.parametrize("kind", list(KINDS))
def test_mixer_parallel_matches_loop(kind: str, T: int) -> None:
    m = mixer(kind)
    h = 3 * torch.randn(4, T, 5, dtype=torch.float64)  # large: saturating gates too
    out = m(h)
    assert out.shape == h.shape
    torch.testing.assert_close(out, m(h, parallel=False), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
def test_mixer_parallel_matches_loop_with_saturated_gates(kind: str) -> None:
    """Pre-activations far beyond ±20: gates at 0/1 to machine precision, no inf or NaN."""
    m = mixer(kind)
    h = 40 * torch.randn(3, 40, 5, dtype=torch.float64)
    torch.testing.assert_close(m(h), m(h, parallel=False), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", list(KINDS))
def test_float32_parallel_form_stays_in_float32(kind: str) -> None:
    m64 = mixer(kind)
    m32 = mixer(kind).float()
    h = torch.randn(2, 40, 5, dtype=torch.float64)
    out = m32(h.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), m64(h, parallel=False), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- (2) causality
@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_core_is_causal(kind: str, parallel: bool) -> None:
    model = core(kind)
    T = 12
    x = one_hots(2, T)
    out = model(x, parallel=parallel)
    for t in (0, 4, T - 2):
        y = x.clone()
        y[:, t + 1] = y[:, t + 1].roll(1, dims=-1)  # another token at t + 1
        changed = model(y, parallel=parallel)
        torch.testing.assert_close(changed[:, : t + 1], out[:, : t + 1], rtol=0, atol=1e-13)
        assert (changed[:, t + 1] - out[:, t + 1]).abs().max() > 1e-6  # the change is seen


# ----------------------------------------------------------------------------- (3) gradients
@pytest.mark.parametrize("kind", list(KINDS))
def test_gradients_reach_every_parameter(kind: str) -> None:
    model = core(kind)
    model(one_hots(3, 9)).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


# ----------------------------------------------------------------------------- (4) eigenvalues
def test_linear_rnn_multiplier_ranges() -> None:
    h = 4 * torch.randn(3, 50, 8, dtype=torch.float64)  # pre-activations of both signs
    a_pos = mixer("linear_rnn_positive", H=8).multipliers(h)
    a_neg = mixer("linear_rnn_negative", H=8).multipliers(h)  # the same parameters
    assert a_pos.shape == a_neg.shape == h.shape
    assert ((a_pos > 0) & (a_pos < 1)).all()
    assert ((a_neg > -1) & (a_neg < 1)).all()
    assert (a_neg < -0.5).any() and (a_neg > 0.5).any()
    # the negative range is 2σ(k) − 1 of the positive one's σ(k)
    torch.testing.assert_close(a_neg, 2 * a_pos - 1)


def test_linear_rnn_negative_multiplier_flips_the_state() -> None:
    """With a ≈ −1 (token-driven), the state alternates sign: what "positive" cannot do."""
    m = LinearRNNMixer(1, "negative").double()
    with torch.no_grad():
        m.in_proj.weight.zero_()
        m.in_proj.bias.copy_(torch.tensor([-40.0, 1.0, 10.0]))  # a ≈ −1, b = 1, gate open
    states = m.scan(m.multipliers(torch.zeros(1, 6, 1, dtype=torch.float64)),
                     torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64)[None, :, None],
                     parallel=True)
    torch.testing.assert_close(states.flatten(), torch.tensor(
        [1.0, -1, 1, -1, 1, -1], dtype=torch.float64), rtol=0, atol=1e-12)


def test_linear_rnn_rejects_unknown_eigenvalues() -> None:
    with pytest.raises(ValueError, match=r"eigenvalues must be one of .*'positive', "
                                         r"'negative'.*got 'complex'"):
        LinearRNN(V, C, hidden_size=4, eigenvalues="complex")
    with pytest.raises(ValueError, match="eigenvalues"):
        LinearRNNMixer(4, "both")


# ----------------------------------------------------------------------------- (5) long inputs
@pytest.mark.parametrize("kind", list(KINDS))
def test_long_inputs_stay_finite_and_match_loop(kind: str) -> None:
    """T = 2000: the products of the multipliers underflow float64 (< e^−745), so a scan that
    forms them outside log space gives 0/0; the log-space scan must still match the loop."""
    m = mixer(kind, H=4)
    with torch.no_grad():
        m.in_proj.bias[:4] += 1.0  # the first gate: z (minGRU) / f (minLSTM) / a leaning high
    h = torch.randn(2, 2000, 4, dtype=torch.float64, requires_grad=True)
    out = m(h)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, m(h, parallel=False), rtol=1e-10, atol=1e-10)
    out.sum().backward()
    assert torch.isfinite(h.grad).all()
    if kind == "mingru":  # the decay (1 − z_t) multiplies to 0 in float64
        z = torch.sigmoid(m.in_proj(h)[..., :4])
        assert (torch.prod(1 - z, dim=1) == 0).all()


def test_cores_run_inside_the_benchmark_protocol() -> None:
    for kind in KINDS:
        model = BenchmarkModel(core(kind).float(), input_size=V - 1, output_size=C)
        ids = torch.randint(0, V - 1, (4, 7))
        assert model(ids, output_length=1).shape == (4, 1, C)
