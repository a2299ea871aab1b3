"""Transformer encoder (docs/benchmark.md#transformer) and its positional encodings.

See docs/benchmark.md#positional-encodings.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from prlstm.models import build
from prlstm.models import positional as pe
from prlstm.models.transformer import EncoderLayer, TransformerEncoder

SMALL = {"embedding_dim": 16, "num_layers": 2, "num_heads": 4, "ff_size": 12}


@pytest.mark.slow
def test_dropout_only_in_training_mode() -> None:
    torch.manual_seed(0)
    model = build("transformer", 2, 2, **SMALL)
    inputs = torch.randint(0, 2, (3, 6))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(inputs, 2), model(inputs, 2))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(inputs, 2), model(inputs, 2))
    no_drop = build("transformer", 2, 2, dropout=0.0, **SMALL).train()
    with torch.no_grad():
        assert torch.equal(no_drop(inputs, 2), no_drop(inputs, 2))


@pytest.mark.parametrize("encoding", ["none", "alibi", "rotary", "relative"])
def test_no_input_dropout_without_sin_cos(encoding: str) -> None:
    core = TransformerEncoder(3, 2, num_layers=1, positional_encoding=encoding)
    seen = []
    core.input_dropout.register_forward_hook(lambda *args: seen.append(1))
    core(torch.eye(3)[None])
    assert seen == []
    sin_cos = TransformerEncoder(3, 2, num_layers=1)
    sin_cos.input_dropout.register_forward_hook(lambda *args: seen.append(1))
    sin_cos(torch.eye(3)[None])
    assert seen == [1]


def test_sin_cos_table_forward_positions() -> None:
    # item 72 with this project's forward positions: row t is the encoding of p = t.
    table = pe.sin_cos_encoding(4, 8)
    assert table.shape == (4, 8)
    assert torch.equal(table[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert table[3, 0].item() == pytest.approx(math.sin(3.0))
    assert table[1, 0].item() == pytest.approx(math.sin(1.0))  # 0.841
    big = pe.sin_cos_encoding(50, 64)
    for t in (0, 7, 49):
        for k in (0, 5, 31):
            w = 10_000 ** (-2 * k / 64)
            assert big[t, k].item() == pytest.approx(math.sin(t * w), abs=1e-6)
            assert big[t, 32 + k].item() == pytest.approx(math.cos(t * w), abs=1e-6)


def test_alibi_slopes_and_bias_item_73() -> None:
    assert pe.alibi_slopes(8) == [2.0 ** -k for k in range(1, 9)]
    assert pe.alibi_slopes(8)[-1] == 0.00390625
    assert pe.alibi_slopes(1) == [2.0 ** -8]
    twelve = pe.alibi_slopes(12)
    assert twelve[:8] == pe.alibi_slopes(8)
    assert twelve[8:] == pe.alibi_slopes(16)[0::2][:4]
    bias = pe.alibi_bias(1, 3)
    assert bias.shape == (1, 3, 3)
    assert bias[0, 1, 0].item() == pytest.approx(-0.5 * 2 ** -8)  # ≈ -0.00195
    assert bias[0, 0, 1].item() == pytest.approx(-(2 ** -8))
    assert bias[0, 2, 0].item() == pytest.approx(-1.5 * 2 ** -8)
    assert torch.all(bias[0].diagonal() == 0)
    b8 = pe.alibi_bias(8, 4)
    torch.testing.assert_close(b8[3], b8[0] * 2 ** -3)


def test_rotary_is_a_relative_rotation() -> None:
    torch.manual_seed(0)
    S, d = 12, 8
    cos, sin = pe.rotary_angles(S, d, dtype=torch.float64)
    x = torch.randn(2, 3, S, d, dtype=torch.float64)
    rx = pe.apply_rotary(x, cos, sin)
    torch.testing.assert_close(rx.norm(dim=-1), x.norm(dim=-1))  # norm preserving
    torch.testing.assert_close(rx[..., 0, :], x[..., 0, :])  # position 0: identity
    # pair (2k, 2k+1) at position p rotated by p·10000^(-2k/d)
    p, k = 5, 1
    ang = p * 10_000 ** (-2 * k / d)
    a, b = x[0, 0, p, 2], x[0, 0, p, 3]
    assert rx[0, 0, p, 2].item() == pytest.approx((a * math.cos(ang) - b * math.sin(ang)).item())
    assert rx[0, 0, p, 3].item() == pytest.approx((b * math.cos(ang) + a * math.sin(ang)).item())
    # q_m · k_n depends on m - n only: the same q and k vectors at every position
    q = torch.randn(d, dtype=torch.float64).expand(1, 1, S, d)
    kk = torch.randn(d, dtype=torch.float64).expand(1, 1, S, d)
    dots = pe.apply_rotary(q, cos, sin)[0, 0] @ pe.apply_rotary(kk, cos, sin)[0, 0].T  # (S, S)
    for off in range(-S + 1, S):
        diag = dots.diagonal(off)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag))


def test_relative_shift() -> None:
    S = 5
    distances = torch.arange(S - 1, -S, -1).double()  # column r holds distance S-1-r
    logits = distances.expand(2, S, 2 * S - 1)
    shifted = pe.relative_shift(logits)
    i = torch.arange(S)
    assert torch.equal(shifted[0], (i[:, None] - i[None, :]).double())
    assert pe.relative_shift(torch.ones(1, 1, 1)).shape == (1, 1, 1)
    with pytest.raises(ValueError):
        pe.relative_shift(torch.ones(3, 4))
    table = pe.relative_distance_table(3, 4)
    torch.testing.assert_close(table, pe.sinusoid_table(torch.tensor([2, 1, 0, -1, -2]), 4))


def naive_attention(layer: EncoderLayer, h: Tensor, encoding: str) -> Tensor:
    """Attention written straight from the definitions, pair by pair, for comparison."""
    B, S, D = h.shape
    H, d = layer.num_heads, layer.head_dim
    q = layer.q(h).view(B, S, H, d)
    k = layer.k(h).view(B, S, H, d)
    v = layer.v(h).view(B, S, H, d)
    if encoding == "rotary":
        cos, sin = pe.rotary_angles(S, d, dtype=h.dtype)
        q = pe.apply_rotary(q.transpose(1, 2), cos, sin).transpose(1, 2)
        k = pe.apply_rotary(k.transpose(1, 2), cos, sin).transpose(1, 2)
    logits = torch.zeros(B, H, S, S, dtype=h.dtype)
    slopes = pe.alibi_slopes(H)
    for i in range(S):
        for j in range(S):
            if encoding == "relative":
                r = layer.r_proj(pe.sinusoid_table(torch.tensor([i - j]), D, dtype=h.dtype))
                r = r.view(H, d)
                val = ((q[:, i] + layer.u) * k[:, j]).sum(-1) + \
                    ((q[:, i] + layer.v_bias) * r).sum(-1)
                logits[:, :, i, j] = val / math.sqrt(d)
            else:
                logits[:, :, i, j] = (q[:, i] * k[:, j]).sum(-1) / math.sqrt(d)
            if encoding == "alibi":
                for hh in range(H):
                    logits[:, hh, i, j] += slopes[hh] * (-abs(i - j) + 0.5 * (j < i))
    attn = torch.softmax(logits, dim=-1)  # (B, H, S, S)
    ctx = torch.einsum("bhij,bjhd->bihd", attn, v).reshape(B, S, D)
    return layer.out(ctx)


@pytest.mark.parametrize("encoding", pe.ENCODINGS)
def test_attention_matches_naive_definition(encoding: str) -> None:
    torch.manual_seed(1)
    core = TransformerEncoder(3, 2, embedding_dim=16, num_layers=1, num_heads=4, ff_size=8,
                              positional_encoding=encoding).double().eval()
    h = torch.randn(2, 5, 16, dtype=torch.float64)
    layer = core.layers[0]
    pos = core._positions(5, h.device, h.dtype)
    with torch.no_grad():
        torch.testing.assert_close(layer.attention(h, pos), naive_attention(layer, h, encoding))


def test_layer_is_post_layer_norm() -> None:
    torch.manual_seed(2)
    core = TransformerEncoder(3, 2, embedding_dim=8, num_layers=1, num_heads=2, ff_size=4,
                              positional_encoding="none").double().eval()
    layer = core.layers[0]
    h = torch.randn(1, 4, 8, dtype=torch.float64)
    pos = core._positions(4, h.device, h.dtype)
    a = layer.norm_attn(h + layer.attention(h, pos))
    expected = layer.norm_ff(a + layer.ff2(torch.relu(layer.ff1(a))))
    torch.testing.assert_close(layer(h, pos), expected)
    x = torch.eye(3, dtype=torch.float64)[None]
    emb = core.embedding(x) * math.sqrt(8)
    torch.testing.assert_close(core(x), core.readout(layer(emb, pos)))


def test_none_is_permutation_invariant_for_classification() -> None:
    torch.manual_seed(3)
    model = build("transformer", 3, 2, positional_encoding="none", **SMALL).eval()
    inputs = torch.tensor([[0, 1, 2, 2, 1, 0, 0]])
    perm = inputs[:, torch.randperm(7)]
    with torch.no_grad():
        torch.testing.assert_close(model(inputs, 1), model(perm, 1))


@pytest.mark.parametrize("encoding", ["sin_cos", "alibi", "rotary", "relative"])
def test_positional_encodings_see_order(encoding: str) -> None:
    torch.manual_seed(4)
    model = build("transformer", 2, 2, positional_encoding=encoding, **SMALL).eval()
    inputs = torch.tensor([[0, 1, 1, 0, 0]])
    other = torch.tensor([[1, 0, 0, 1, 0]])  # same multiset
    with torch.no_grad():
        a, b = model(inputs, 2), model(other, 2)
    assert a.shape == (1, 2, 2) and torch.isfinite(a).all()
    assert not torch.allclose(a, b)


def test_relative_runs_at_length_one_and_long() -> None:
    model = build("transformer", 2, 3, positional_encoding="relative", **SMALL).eval()
    with torch.no_grad():
        assert model(torch.tensor([[1]]), 1).shape == (1, 1, 3)
        assert model(torch.randint(0, 2, (2, 40)), 40).shape == (2, 40, 3)


def test_bad_core_arguments() -> None:
    with pytest.raises(ValueError, match="positional_encoding"):
        TransformerEncoder(3, 2, positional_encoding="learned")
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoder(3, 2, num_heads=3)
