"""xLSTM baselines (mLSTM and sLSTM stacks of the ``xlstm`` package) as benchmark cores."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

pytest.importorskip("xlstm", reason="the xlstm baselines need the optional xlstm package "
                                    "(pip install 'prlstm[baselines]')")

from prlstm.models.protocol import BenchmarkModel  # noqa: E402
from prlstm.models.xlstm_cores import (  # noqa: E402
    MLSTM,
    PARALLEL_MAX_LENGTH,
    SLSTM,
    SLSTMLoop,
)

V, C, H = 3, 2, 16


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is fastest (and fair to a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_hots(B: int, S: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    """Random one-hot inputs ``(B, S, V)``."""
    g = torch.Generator().manual_seed(seed)
    return nn.functional.one_hot(torch.randint(0, V, (B, S), generator=g), V).to(dtype)


def make(name: str, seed: int = 0, **options: object) -> nn.Module:
    """A small float64 core, built under ``seed``."""
    torch.manual_seed(seed)
    cls = MLSTM if name == "mlstm" else SLSTM
    return cls(V, C, hidden_size=H, num_layers=2, num_heads=4, **options).double()


def set_mlstm_kernel(core: MLSTM, kind: str, chunk_size: int) -> None:
    for block in core.stack.blocks:
        kernel = block.xlstm.mlstm_cell.backend_fn
        kernel.kind, kernel.chunk_size = kind, chunk_size


CORES = [("mlstm", {}), ("mlstm", {"kernel": "chunkwise", "chunk_size": 8}), ("slstm", {})]
IDS = ["mlstm", "mlstm-chunkwise", "slstm"]


@pytest.mark.parametrize(("name", "options"), CORES, ids=IDS)
@pytest.mark.parametrize("S", [1, 7, 40, 600])
def test_output_shape(name: str, options: dict, S: int) -> None:
    core = make(name, **options)
    with torch.no_grad():
        out = core(one_hots(2, S), input_length=S)
    assert out.shape == (2, S, C)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "options"), CORES, ids=IDS)
def test_causal(name: str, options: dict) -> None:
    """Changing token t + 1 never changes the outputs at positions <= t (float64, exact)."""
    core = make(name, **options)
    S = 21
    x = one_hots(3, S)
    with torch.no_grad():
        ref = core(x)
        for t in (0, 6, 7, 8, 15, 19):  # 7 / 8 straddle a chunk boundary (chunk_size 8)
            y = x.clone()
            y[:, t + 1] = y[:, t + 1].roll(1, dims=-1)  # a different token at t + 1
            out = core(y)
            torch.testing.assert_close(out[:, : t + 1], ref[:, : t + 1], rtol=0, atol=1e-12)
            assert (out[:, t + 1] - ref[:, t + 1]).abs().max() > 1e-9


def test_mlstm_kernels_match_the_recurrence() -> None:
    """Parallel kernel, chunkwise kernel (several chunk sizes, padding) and the package's
    token-by-token recurrence compute the same outputs (up to the package's eps = 1e-6)."""
    core = make("mlstm")
    x = one_hots(2, 30)
    with torch.no_grad():
        ref = core(x, parallel=False)
        for kind, chunk in [("parallel", 64), ("chunkwise", 64), ("chunkwise", 8),
                               ("chunkwise", 7), ("chunkwise", 1), ("auto", 64)]:
            set_mlstm_kernel(core, kind, chunk)
            torch.testing.assert_close(core(x), ref, rtol=0, atol=1e-6)


def test_mlstm_auto_switches_to_chunkwise_for_long_sequences() -> None:
    core = make("mlstm")
    kernel = core.stack.blocks[0].xlstm.mlstm_cell.backend_fn
    assert kernel.uses_parallel(PARALLEL_MAX_LENGTH)
    assert not kernel.uses_parallel(PARALLEL_MAX_LENGTH + 1)
    x = one_hots(1, PARALLEL_MAX_LENGTH + 37)
    with torch.no_grad():
        auto = core(x)
        set_mlstm_kernel(core, "parallel", 64)
        torch.testing.assert_close(auto, core(x), rtol=0, atol=1e-6)


def test_mlstm_recurrence_refuses_gradients() -> None:
    core = make("mlstm")
    with pytest.raises(RuntimeError, match="no_grad"):
        core(one_hots(1, 3), parallel=False)


def test_slstm_loop_matches_the_package_loop() -> None:
    """SLSTMLoop is the package's vanilla ``slstm_forward`` recurrence: same outputs and
    gradients."""
    ours = make("slstm")
    with torch.no_grad():  # non-zero recurrent weights, so that the recurrence matters
        for block in ours.stack.blocks:
            block.xlstm.slstm_cell._recurrent_kernel_.normal_(0, 0.3)
    theirs = copy.deepcopy(ours)
    for block in theirs.stack.blocks:
        cell = block.xlstm.slstm_cell
        assert isinstance(cell._impl, SLSTMLoop)
        del cell._impl  # back to the class's own (package) loop
    x = one_hots(2, 12)
    out_ours, out_theirs = ours(x), theirs(x)
    torch.testing.assert_close(out_ours, out_theirs, rtol=0, atol=1e-12)
    w = torch.randn_like(out_ours)
    (out_ours * w).sum().backward()
    (out_theirs * w).sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize(("name", "options"), CORES, ids=IDS)
def test_gradients_reach_every_parameter(name: str, options: dict) -> None:
    core = make(name, **options)
    out = core(one_hots(3, 20))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in core.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", ["mlstm", "slstm"])
def test_seeded_construction_is_deterministic(name: str) -> None:
    x = one_hots(2, 9)
    with torch.no_grad():
        a, b, c = make(name, seed=3)(x), make(name, seed=3)(x), make(name, seed=4)(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", ["mlstm", "slstm"])
def test_float32_and_protocol(name: str) -> None:
    torch.manual_seed(0)
    core = (MLSTM if name == "mlstm" else SLSTM)(V, C, hidden_size=H, num_layers=1)
    model = BenchmarkModel(core, input_size=V - 1, output_size=C)
    ids = torch.randint(0, V - 1, (4, 11))
    logits = model(ids, output_length=2)
    assert logits.shape == (4, 2, C) and logits.dtype == torch.float32
    x = model.extended_inputs(ids, 2)
    torch.testing.assert_close(logits, core(x, input_length=11)[:, -2:])


@pytest.mark.parametrize(("name", "cls"), [("mlstm", MLSTM), ("slstm", SLSTM)])
def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch, name: str,
                                             cls: type) -> None:
    monkeypatch.setitem(sys.modules, "xlstm", None)  # `import xlstm` now raises ImportError
    with pytest.raises(ImportError, match=rf"model '{name}' needs the xlstm package: "
                                          r"pip install 'prlstm\[baselines\]'"):
        cls(V, C, hidden_size=H)


@pytest.mark.parametrize(("cls", "options"), [
    (MLSTM, {"kernel": "cuda"}), (MLSTM, {"num_heads": 3}), (MLSTM, {"chunk_size": 0}),
    (MLSTM, {"proj_factor": 0}), (SLSTM, {"num_heads": 3}), (SLSTM, {"num_heads": 16}),
    (SLSTM, {"conv_kernel_size": -1}), (SLSTM, {"num_layers": 0}),
])
def test_bad_options(cls: type, options: dict) -> None:
    with pytest.raises(ValueError):
        cls(V, C, hidden_size=H, **options)
