"""The merge ablations of docs/model.md#merge-variants: definitions, backends, streaming,
refusals."""

import pytest
import torch

from prlstm import PRLSTM, models
from prlstm.cells import CombineCell

VARIANTS = [(cell, merge, R) for cell in ("lstm", "rnn") for merge in ("sum", "concat")
            for R in (0, 1, 2)]
BACKENDS = ("levelwise", "chunked", "streaming")


def _layer(cell, merge, R, **kw):
    torch.manual_seed(0)
    return PRLSTM(3, 6, cell=cell, refinements=R, merge=merge, dtype=torch.float64, **kw)


def _run(layer, x, backend):
    layer.backend = backend
    return layer(x)


def test_merges_follow_the_definitions():
    torch.manual_seed(0)
    H = 4
    left = (torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64))
    right = (torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64))
    cell = CombineCell(3, H, "lstm", 0, merge="sum", dtype=torch.float64)
    h, c = cell.combine(left, right)
    torch.testing.assert_close(h, left[0] + right[0])
    torch.testing.assert_close(c, left[1] + right[1])
    assert cell.merge is None
    cell = CombineCell(3, H, "lstm", 0, merge="concat", dtype=torch.float64)
    assert cell.merge.weight.shape == (2 * H, 4 * H)
    z = torch.cat((left[0], right[0], left[1], right[1]), -1) @ cell.merge.weight.T
    z = z + cell.merge.bias
    h, c = cell.combine(left, right)
    torch.testing.assert_close(torch.cat((h, c), -1), z)
    rnn = CombineCell(3, H, "rnn", 0, merge="concat", dtype=torch.float64)
    assert rnn.merge.weight.shape == (H, 2 * H)
    (h,) = rnn.combine(left[:1], right[:1])  # no ReLU: negative values survive
    torch.testing.assert_close(h, torch.cat((left[0], right[0]), -1) @ rnn.merge.weight.T
                               + rnn.merge.bias)
    assert (h < 0).any()
    # R = 1: the refinement follows the plain merge.
    sum1 = CombineCell(3, H, "rnn", 1, merge="sum", dtype=torch.float64)
    (h,) = sum1.combine(left[:1], right[:1])
    torch.testing.assert_close(h, torch.relu(sum1.refine[0](left[0] + right[0])))


def test_sum_without_refinement_is_a_bag_of_tokens():
    layer = _layer("lstm", "sum", 0)
    x = torch.randn(1, 9, 3, dtype=torch.float64)
    out, _ = layer(x)
    leaves = layer.layers[0].leaf_state(x)
    torch.testing.assert_close(out, leaves[0].cumsum(1))
    perm = torch.randperm(9)
    torch.testing.assert_close(layer(x[:, perm])[0][:, -1], out[:, -1])


@pytest.mark.slow
@pytest.mark.parametrize("cell,merge,R", VARIANTS)
def test_backends_match_reference_values_and_gradients(cell, merge, R):
    layer = _layer(cell, merge, R)
    g = torch.Generator().manual_seed(1)
    for n in range(1, 71):
        x = torch.randn(2, n, 3, generator=g, dtype=torch.float64)
        ref, ref_state = _run(layer, x, "reference")
        for backend in BACKENDS:
            out, state = _run(layer, x, backend)
            torch.testing.assert_close(out, ref, atol=1e-10, rtol=0, msg=f"{backend} n={n}")
            torch.testing.assert_close(state.h, ref_state.h, atol=1e-10, rtol=0)
            if cell == "lstm":
                torch.testing.assert_close(state.c, ref_state.c, atol=1e-10, rtol=0)
    for n in (1, 2, 5, 13, 33, 70):
        x = torch.randn(2, n, 3, generator=g, dtype=torch.float64)
        w = torch.randn(2, n, 6, generator=g, dtype=torch.float64)
        grads = {}
        for backend in ("reference", *BACKENDS):
            layer.zero_grad()
            xb = x.clone().requires_grad_(True)
            out, state = _run(layer, xb, backend)
            ((out * w).sum() + state.h.sum()).backward()
            grads[backend] = [xb.grad] + [torch.zeros_like(p) if p.grad is None else p.grad
                                          for p in layer.parameters()]
        for backend in BACKENDS:
            for a, b in zip(grads[backend], grads["reference"], strict=True):
                torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell,merge,R", [("lstm", "sum", 1), ("lstm", "concat", 0),
                                          ("rnn", "concat", 1), ("rnn", "sum", 0)])
def test_streaming_prefill_and_final_state(cell, merge, R):
    layer = _layer(cell, merge, R, num_layers=2)
    x = torch.randn(3, 23, 3, dtype=torch.float64)
    out, state = layer(x)
    s = layer.init_stream(3)
    for t in range(23):
        y, s = layer.step(x[:, t], s)
        torch.testing.assert_close(y, out[:, t], atol=1e-10, rtol=0)
    pre, s = layer.prefill(x[:, :11])
    torch.testing.assert_close(pre, out[:, :11], atol=1e-10, rtol=0)
    y, s = layer.step(x[:, 11], s)
    torch.testing.assert_close(y, out[:, 11], atol=1e-10, rtol=0)
    lengths = torch.tensor([23, 7, 16])
    final = layer.final_state(x, lengths=lengths)
    full = layer(x, lengths=lengths)[1]
    torch.testing.assert_close(final.h, full.h, atol=1e-10, rtol=0)
    torch.testing.assert_close(final.h[:, 1], layer(x[1:2, :7])[1].h[:, 0], atol=1e-10, rtol=0)


def test_sequential_schedule_with_plain_merges():
    layer = _layer("lstm", "concat", 1, schedule="sequential")
    x = torch.randn(2, 19, 3, dtype=torch.float64)
    ref, _ = _run(layer, x, "reference")
    for backend in ("levelwise", "streaming"):
        torch.testing.assert_close(_run(layer, x, backend)[0], ref, atol=1e-12, rtol=0)


def test_invalid_merges_are_refused_clearly():
    with pytest.raises(ValueError, match="merge must be one of .*'mean'"):
        PRLSTM(3, 6, merge="mean")
    with pytest.raises(ValueError, match="gru.*merge='gated' only.*'sum'"):
        PRLSTM(3, 6, cell="gru", refinements=0, merge="sum")
    with pytest.raises(ValueError, match="triton.*merge='gated' only.*'concat'"):
        PRLSTM(3, 6, merge="concat", backend="triton")
    with pytest.raises(ValueError, match="pr_lstm: option 'merge' must be one of"):
        models.build("pr_lstm", 2, 2, merge="max")
    with pytest.raises(ValueError, match="does not take option.*'merge'"):
        models.build("pr_gru", 2, 2, merge="sum")


def test_auto_never_picks_triton_for_plain_merges(monkeypatch):
    from prlstm.ops import triton_backend

    layer = PRLSTM(3, 6, merge="sum")
    monkeypatch.setattr(triton_backend, "available", lambda: True)
    monkeypatch.setattr(triton_backend, "verified", lambda device, dtype: True)
    x = torch.randn(1, 4, 3)
    monkeypatch.setattr(type(x), "is_cuda", property(lambda self: True))
    assert layer._scan_backend(x) == "levelwise"
    gated = PRLSTM(3, 6)
    assert gated._scan_backend(x) == "triton"
    # A backend switched to triton after construction is refused, naming the merge, and so
    # is a fused combine of the cell.
    with pytest.raises(ValueError, match="triton.*merge='gated' only.*'sum'"):
        layer.backend = "triton"
    with pytest.raises(ValueError, match="merge='gated' only, got merge='sum'"):
        triton_backend.make_combine(layer.layers[0])


def test_registry_and_run_ids_carry_the_merge():
    from prlstm.experiments.orchestrate.presets import make_config

    model = models.build("pr_lstm", 2, 2, hidden_size=4, merge="concat")
    assert model.config["merge"] == "concat"
    assert models.from_config(model.config).config == model.config
    assert models.build("pr_rnn", 2, 2, hidden_size=4, merge="sum").config["merge"] == "sum"
    cfg = make_config("parity_check", "pr_lstm", "smoke", hparams={"merge": "sum",
                                                                    "refinements": 0})
    assert cfg.run_id().startswith("parity_check/pr_lstm/merge=sum-refinements=0-s0-lr0.001-")
    assert make_config("parity_check", "pr_lstm", "smoke").run_id().startswith(
        "parity_check/pr_lstm/s0-")


def test_report_columns_separate_merges_and_pool_old_gated_runs():
    from prlstm.experiments.reporting.results import variant_labels

    def result(**hp):
        return {"model": "pr_lstm", "model_config": {"model": "pr_lstm", "hidden_size": 8, **hp}}

    labels = variant_labels([result(), result(merge="gated"), result(merge="sum"),
                             {"model": "lstm", "model_config": {"hidden_size": 8}}])
    assert labels == ["pr_lstm merge=gated", "pr_lstm merge=gated", "pr_lstm merge=sum",
                      "lstm"]
