"""The Triton backend (``prlstm.ops.triton``) agrees with ``prlstm.ops.reference``.

Runs on CUDA at realistic sizes, and without a GPU under Triton's CPU interpreter
(``TRITON_INTERPRET=1``, set here when CUDA is absent) at tiny sizes so that CI exercises the
kernel code. Skips when Triton is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

import pytest  # noqa: E402

from prlstm.cells import CombineCell  # noqa: E402
from prlstm.ops import levelwise, reference  # noqa: E402
from prlstm.ops import triton as tri  # noqa: E402

pytestmark = pytest.mark.skipif(not tri.available(),
                                reason="needs triton and CUDA (or TRITON_INTERPRET=1)")

DEV = torch.device("cuda" if CUDA else "cpu")
H = 64 if CUDA else 16
B = 4 if CUDA else 2
LENGTHS = [1, 2, 3, 8, 63, 64, 65, 255, 1000] if CUDA else [1, 2, 5, 9]
FP32_TOL = 5e-5 if CUDA else 2e-5


def _cell(R: int, hidden: int = H, bias: bool = True, seed: int = 0) -> CombineCell:
    torch.manual_seed(seed)
    return CombineCell(3, hidden, "lstm", R, bias=bias, device=DEV)


def _run(cell: CombineCell, x: torch.Tensor, scan, w: tuple[torch.Tensor, torch.Tensor],
         autocast: bool = False) -> list[torch.Tensor]:
    """Outputs (h, c) and gradients (x, every parameter) of a weighted sum of the states."""
    cell.zero_grad()
    x = x.clone().requires_grad_(True)
    with torch.autocast(DEV.type, dtype=torch.bfloat16, enabled=autocast):
        h, c = scan(cell.leaf_state(x))
    ((h.float() * w[0]).sum() + (c.float() * w[1]).sum()).backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone()
             for p in cell.parameters()]
    return [h.float().detach(), c.float().detach(), x.grad, *grads]


def _inputs(T: int, hidden: int = H, seed: int = 1):
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = torch.randn(B, T, 3, generator=g, device=DEV)
    w = (torch.randn(B, T, hidden, generator=g, device=DEV),
         torch.randn(B, T, hidden, generator=g, device=DEV))
    return x, w


def _scans(cell: CombineCell) -> dict:
    fused = tri.make_combine(cell)
    return {"reference": lambda l: reference.scan(cell.combine, l)[0],
            "tree_op": lambda l: tri.scan(fused, l)[0],
            "levelwise+fused": lambda l: levelwise.scan(fused, l)[0]}


@pytest.mark.slow
@pytest.mark.parametrize("R", [0, 1, 2])
def test_fp32_values_and_gradients_match_reference(R: int) -> None:
    cell = _cell(R)
    scans = _scans(cell)
    for T in LENGTHS:
        x, w = _inputs(T)
        ref = _run(cell, x, scans["reference"], w)
        for name in ("tree_op", "levelwise+fused"):
            if name == "levelwise+fused" and T > 65:
                continue  # per-combine op: the small lengths cover it
            got = _run(cell, x, scans[name], w)
            for i, (a, b) in enumerate(zip(got, ref, strict=True)):
                scale = max(1.0, b.abs().max().item())
                torch.testing.assert_close(a, b, atol=FP32_TOL * scale, rtol=0,
                                           msg=lambda m, i=i, n=name, t=T: f"{n} T={t} #{i}: {m}")


@pytest.mark.slow
@pytest.mark.parametrize("R", [0, 1])
def test_bf16_autocast_matches_reference(R: int) -> None:
    """bf16 GEMMs with fp32 state: no worse than the torch backend under the same autocast."""
    cell = _cell(R)
    scans = _scans(cell)
    base = lambda l: levelwise.scan(cell.combine, l)[0]  # noqa: E731
    for T in LENGTHS[-3:]:
        x, w = _inputs(T)
        ref = _run(cell, x, scans["reference"], w)
        torch_bf16 = _run(cell, x, base, w, autocast=True)
        for name in ("tree_op", "levelwise+fused"):
            got = _run(cell, x, scans[name], w, autocast=True)
            for i, (a, b, t) in enumerate(zip(got, ref, torch_bf16, strict=True)):
                scale = b.abs().max().item() + 1e-6
                err, err_torch = (a - b).abs().max().item(), (t - b).abs().max().item()
                assert err <= max(3.0 * err_torch, 2e-2 * scale), (name, T, i, err, err_torch)


# On CUDA every (R, levels, dtype) is a kernel compile of several seconds: few, long cases.
CHUNK_LENGTHS = [1, 5, 9, 33] if not CUDA else [1, 5, 1000]
CHUNKS = (2, 8, 64) if not CUDA else (16,)
# Chunked vs per-round forward: fp32 rounding of reordered dot products, a few ulp per level
# (seen: up to 6.3e-8 at T 9 under Triton 3.9's interpreter).
CHUNK_TOL = 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("R", [0, 1, 2] if not CUDA else [1, 2])
def test_chunk_kernels_match_per_round_scan(R: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk kernels run (counted) and give the per-round scan's numbers up to fp32 rounding.

    Bit equality is not a property Triton promises: the two forms run the same combines, but
    ``tl.dot`` sums in an order that depends on the tile shape (on a GPU the MMA unit's, in
    the interpreter numpy's BLAS, which differs between numpy builds). Exactness of the
    combines themselves is pinned by :func:`test_chunk_kernels_are_exact_on_exact_arithmetic`.
    """
    from prlstm.ops.triton import chunk as chunk_mod
    from prlstm.ops.triton.rounds import Weights
    from prlstm.ops.triton.tree import scan_fwd

    calls: list[str] = []
    for name in ("chunk_up", "chunk_down"):
        real = getattr(chunk_mod, name)
        monkeypatch.setattr(chunk_mod, name,
                            lambda *a, _r=real, _n=name: (calls.append(_n), _r(*a))[1])
    cell = _cell(R)
    lins = [cell.merge, *cell.refine]
    wts = Weights.build([m.weight.detach() for m in lins], [m.bias.detach() for m in lins])
    for T in CHUNK_LENGTHS:
        x, _ = _inputs(T)
        h0, c0 = (t.detach().contiguous() for t in cell.leaf_state(x))
        want = scan_fwd(wts, h0, c0, 0)
        for chunk in CHUNKS:
            calls.clear()
            got = scan_fwd(wts, h0, c0, chunk)
            assert calls == ([] if T == 1 else ["chunk_up", "chunk_down"]), (T, chunk)
            for a, b in zip(got[:2], want[:2], strict=True):
                # The same combines in the same tree; only the summation order inside
                # ``tl.dot`` may differ with the kernel's tile shape (unspecified in Triton;
                # the interpreter hands it to numpy's BLAS), so fp32 rounding may differ.
                torch.testing.assert_close(a, b, atol=CHUNK_TOL, rtol=CHUNK_TOL)
            n_roots = T - bin(T).count("1")  # the used part of the roots buffer
            for a, b in zip(got[2:], want[2:], strict=True):
                torch.testing.assert_close(a[:, :n_roots], b[:, :n_roots], atol=1e-6, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("R", [0, 1, 2] if not CUDA else [1])
def test_chunk_kernels_are_exact_on_exact_arithmetic(R: int) -> None:
    """With the merge and refinement weight matrices zero (biases random), every ``tl.dot``
    is exact whatever its order, so the chunked forward must equal the per-round one bit for
    bit: the gates are the biases and the states follow ``c = f_l c_l + f_r c_r + i u`` with
    ``f_l != f_r``, so any other pairing of states than the schedule's changes the numbers."""
    from prlstm.ops.triton.rounds import Weights
    from prlstm.ops.triton.tree import scan_fwd

    cell = _cell(R)
    lins = [cell.merge, *cell.refine]
    g = torch.Generator(device=DEV).manual_seed(5)
    wts = Weights.build([torch.zeros_like(m.weight) for m in lins],
                        [torch.randn(m.bias.shape, generator=g, device=DEV) for m in lins])
    for T in CHUNK_LENGTHS:
        x, _ = _inputs(T)
        h0, c0 = (t.detach().contiguous() for t in cell.leaf_state(x))
        want = scan_fwd(wts, h0, c0, 0)
        for chunk in CHUNKS:
            got = scan_fwd(wts, h0, c0, chunk)
            for i, (a, b) in enumerate(zip(got[:2], want[:2], strict=True)):
                assert torch.equal(a, b), (T, chunk, i, (a - b).abs().max().item())
            if T > 2:  # the zero-weight cell still depends on the order of the merges
                assert not torch.equal(want[1][:, -1], c0[:, -1])


@pytest.mark.slow
@pytest.mark.parametrize("R", [0, 1] if not CUDA else [1])
def test_chunked_op_values_and_gradients_match_reference(R: int) -> None:
    """The op with chunk kernels in its forward, fp32 and bf16, against ``reference``."""
    cell = _cell(R)
    chunked = tri.make_combine(cell, chunk=CHUNKS[-1] if CUDA else 4)
    for T in CHUNK_LENGTHS[1:]:
        x, w = _inputs(T)
        ref = _run(cell, x, lambda l: reference.scan(cell.combine, l)[0], w)
        got = _run(cell, x, lambda l: tri.scan(chunked, l)[0], w)
        for i, (a, b) in enumerate(zip(got, ref, strict=True)):
            scale = max(1.0, b.abs().max().item())
            torch.testing.assert_close(a, b, atol=FP32_TOL * scale, rtol=0,
                                       msg=lambda m, i=i, t=T: f"T={t} #{i}: {m}")
        plain = _run(cell, x, lambda l: tri.scan(tri.make_combine(cell, chunk=0), l)[0], w,
                     autocast=True)
        bf16 = _run(cell, x, lambda l: tri.scan(chunked, l)[0], w, autocast=True)
        for a, b in zip(bf16, plain, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5 * max(1.0, b.abs().max().item()), rtol=0)


def test_chunk_size_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from prlstm.ops.triton.config import chunk_size

    monkeypatch.delenv("PRLSTM_TRITON_CHUNK", raising=False)
    assert chunk_size() == 0 and chunk_size(16) == 16
    monkeypatch.setenv("PRLSTM_TRITON_CHUNK", "32")
    assert chunk_size() == 32 and tri.make_combine(_cell(0)).chunk == 32
    for bad in ("12", "1", "-4", "x"):
        monkeypatch.setenv("PRLSTM_TRITON_CHUNK", bad)
        with pytest.raises(ValueError, match="PRLSTM_TRITON_CHUNK"):
            chunk_size()
    with pytest.raises(ValueError, match="chunk must be 0 or a power of two >= 2, got 3"):
        chunk_size(3)
    with pytest.raises(TypeError, match="chunk must be an int"):
        chunk_size(4.0)  # type: ignore[arg-type]


def test_bf16_dtypes_follow_autocast() -> None:
    cell = _cell(1)
    x, _ = _inputs(5)
    with torch.autocast(DEV.type, dtype=torch.bfloat16):
        leaves = cell.leaf_state(x)
        (h, c), _ = tri.scan(tri.make_combine(cell), leaves)
        (h2, c2), _ = levelwise.scan(cell.combine, leaves)
    assert (h.dtype, c.dtype) == (h2.dtype, c2.dtype)


@pytest.mark.slow
@pytest.mark.parametrize("hidden,bias", [(20, True), (16, False)])
def test_ragged_hidden_and_no_bias(hidden: int, bias: bool) -> None:
    """H not a multiple of the tiles (masked tails) and bias-free maps."""
    cell = _cell(1, hidden, bias)
    scans = _scans(cell)
    x, w = _inputs(7, hidden)
    ref = _run(cell, x, scans["reference"], w)
    got = _run(cell, x, scans["tree_op"], w)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, atol=FP32_TOL * max(1.0, b.abs().max().item()), rtol=0)


def test_combine_is_a_drop_in_on_any_shape() -> None:
    """2-D, strided 3-D and 4-D states, as the streaming and final-state paths pass them."""
    cell = _cell(1)
    fused = tri.make_combine(cell)
    torch.manual_seed(3)
    base = [torch.randn(3, 10, H, device=DEV) for _ in range(2)]
    cases = [
        ((base[0][:, 0], base[1][:, 0]), (base[0][:, 1], base[1][:, 1])),  # (B, H)
        ((base[0][:, 0::2], base[1][:, 0::2]), (base[0][:, 1::2], base[1][:, 1::2])),
        ((base[0].view(3, 2, 5, H), base[1].view(3, 2, 5, H)),) * 2,
    ]
    for left, right in cases:
        for a, b in zip(fused(left, right), cell.combine(left, right), strict=True):
            torch.testing.assert_close(a, b, atol=FP32_TOL, rtol=0)


def test_final_state_path_and_sequential_schedule() -> None:
    cell = _cell(1)
    fused = tri.make_combine(cell)
    x, _ = _inputs(9)
    leaves = cell.leaf_state(x)
    lengths = torch.tensor([9, 6][:B] + [1] * max(0, B - 2), device=DEV)
    roots = levelwise.upsweep(fused, leaves)
    got = levelwise.fold_final(fused, roots, lengths)
    want = levelwise.fold_final(cell.combine, levelwise.upsweep(cell.combine, leaves), lengths)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=FP32_TOL, rtol=0)
    seq, _ = tri.scan(fused, leaves, schedule="sequential")
    want, _ = reference.scan(cell.combine, leaves, schedule="sequential")
    for a, b in zip(seq, want, strict=True):
        torch.testing.assert_close(a, b, atol=FP32_TOL, rtol=0)


def test_other_cells_fall_back() -> None:
    torch.manual_seed(0)
    cell = CombineCell(3, 8, "rnn", 1, device=DEV)
    leaves = cell.leaf_state(torch.randn(2, 6, 3, device=DEV))
    got, _ = tri.scan(tri.make_combine(cell), leaves)
    for a, b in zip(got, reference.scan(cell.combine, leaves)[0], strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_saved_memory_is_linear_in_length() -> None:
    """Bytes saved for backward grow linearly in T: doubling T doubles the increment."""
    cell = _cell(1)
    fused = tri.make_combine(cell)
    total = []
    for T in (8, 16, 32) if not CUDA else (256, 512, 1024):
        x, _ = _inputs(T)
        saved: list[int] = []

        def pack(t: torch.Tensor, saved: list[int] = saved) -> torch.Tensor:
            saved.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            (h, c), _ = tri.scan(fused, cell.leaf_state(x.requires_grad_(True)))
        total.append(sum(saved))
    d1, d2 = total[1] - total[0], total[2] - total[1]
    assert 1.9 * d1 <= d2 <= 2.1 * d1, total


@pytest.mark.slow
def test_torch_compile_fullgraph() -> None:
    """The custom ops are single graph nodes: fullgraph compiles, values and grads agree."""
    cell = _cell(1)

    def f(x: torch.Tensor) -> torch.Tensor:
        (h, c), _ = tri.scan(tri.make_combine(cell), cell.leaf_state(x))
        return h.sum() + c.square().sum()

    x, _ = _inputs(9)
    x.requires_grad_(True)
    torch._dynamo.reset()
    compiled = torch.compile(f, backend="aot_eager" if not CUDA else "inductor", fullgraph=True)
    y = compiled(x)
    (gx,) = torch.autograd.grad(y, x)
    y0 = f(x)
    (gx0,) = torch.autograd.grad(y0, x)
    torch.testing.assert_close(y, y0)
    torch.testing.assert_close(gx, gx0)


def test_layer_backend_when_wired() -> None:
    """``PRLSTM(backend="triton")`` once the layer accepts it (skipped until wired)."""
    from prlstm import PRLSTM
    from prlstm.ops import BACKENDS

    if "triton" not in BACKENDS:
        pytest.skip("layer not wired to the triton backend yet")
    torch.manual_seed(0)
    layer = PRLSTM(3, H, refinements=1, num_layers=2, device=DEV)
    x = torch.randn(B, 9, 3, device=DEV)
    layer.backend = "reference"
    want, want_state = layer(x)
    layer.backend = "triton"
    got, got_state = layer(x)
    torch.testing.assert_close(got, want, atol=FP32_TOL, rtol=0)
    torch.testing.assert_close(got_state.c, want_state.c, atol=FP32_TOL, rtol=0)


@pytest.mark.slow
def test_every_layer_path_matches_reference() -> None:
    """forward, lengths, final_state, prefill, continuation, step and hx on backend='triton'
    (fused kernels, fp32): values and every gradient against ``reference``."""
    from .pinning import check_layer_paths

    check_layer_paths("triton", "lstm", 1, tol=FP32_TOL * 10, dtype=torch.float32)


@pytest.mark.slow
def test_auto_check_passes_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-time check of ``backend="auto"`` runs the kernels once per (device, dtype)."""
    from prlstm.ops.triton import check

    monkeypatch.setattr(check, "_RESULTS", {})
    calls: list[str] = []
    real = check.compare
    monkeypatch.setattr(check, "compare", lambda *a: (calls.append("run"), real(*a))[1])
    assert check.compare(DEV, torch.float32) is None
    calls.clear()
    assert check.verified(DEV, torch.float32) and check.verified(DEV, torch.float32)
    assert calls == ["run"]
    assert not check.verified(DEV, torch.float64)  # no kernels for float64: never checked
    assert calls == ["run"]


def _broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree op whose c is off by 1e-3: what a miscompiled kernel could return."""
    real = tri.FusedCombine.tree_scan

    def tree_scan(self, leaves):
        h, c = real(self, leaves)
        return h, c + 1e-3

    monkeypatch.setattr(tri.FusedCombine, "tree_scan", tree_scan)


@pytest.mark.slow
def test_auto_check_catches_a_broken_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from prlstm.ops.triton import check

    monkeypatch.setattr(check, "_RESULTS", {})
    _broken(monkeypatch)
    assert "c differs from levelwise" in check.compare(DEV, torch.float32)
    with pytest.warns(RuntimeWarning, match="failed their check .* uses 'levelwise'"):
        assert not check.verified(DEV, torch.float32)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: the cached answer is silent
        assert not check.verified(DEV, torch.float32)


@pytest.mark.slow
@pytest.mark.parametrize("broken", [False, True])
def test_auto_uses_triton_only_after_the_check(broken: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The layer's ``auto``: triton when the check passed, else levelwise with one warning.
    On a CPU the device is made to look like CUDA; the kernels run in the interpreter."""
    import warnings

    from prlstm import PRLSTM
    from prlstm.ops.triton import check

    monkeypatch.setattr(check, "_RESULTS", {})
    if broken:
        _broken(monkeypatch)
    torch.manual_seed(0)
    layer = PRLSTM(3, 8, device=DEV)
    x = torch.randn(2, 5, 3, device=DEV)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check.verified(DEV, torch.float32)  # the check itself runs on the real device type
        with monkeypatch.context() as m:
            m.setattr(type(x), "is_cuda", property(lambda self: True))
            first = layer._scan_backend(x)
            second = layer._scan_backend(x)
    assert first == second == ("levelwise" if broken else "triton")
    assert len([w for w in caught if "failed their check" in str(w.message)]) == int(broken)
    out = layer(x)[0]
    layer.backend = "levelwise"
    torch.testing.assert_close(out, layer(x)[0], atol=FP32_TOL, rtol=0)


def _has_nvidia_backend() -> bool:
    try:
        return importlib.util.find_spec("triton.backends.nvidia") is not None
    except (ImportError, ValueError):
        return False


@pytest.mark.skipif(CUDA or not _has_nvidia_backend(),
                    reason="compile check is for machines without a GPU")
@pytest.mark.slow
def test_kernels_compile_for_sm90_without_spills() -> None:
    """Every kernel variant compiles to sm_90 cubin (catches what the interpreter cannot)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    res = subprocess.run([sys.executable, "-m", "prlstm.ops.triton.aot", "--dtype", "bf16"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_first_blocks_copy_and_gradient_add() -> None:
    """``copy_firsts``/``add_firsts`` against the per-level loop they replace."""
    from prlstm.ops.triton.firsts import add_firsts, copy_firsts
    from prlstm.ops.triton.tree import level_offsets

    torch.manual_seed(0)
    for T in (1, 2, 13, 16):
        bufs = [torch.randn(B, T, 20, device=DEV) for _ in range(6)]
        leaves, roots, out = (bufs[0], bufs[1]), (bufs[2], bufs[3]), (bufs[4], bufs[5])
        starts = [0, *level_offsets(T)]  # position of each level's first root
        sources = [leaves] + [roots] * (len(starts) - 1)
        want_out = [t.clone() for t in out]
        for k, (src, a) in enumerate(zip(sources, starts, strict=True)):
            for i in range(2):
                want_out[i][:, (1 << k) - 1] = src[i][:, a]
        got_out = tuple(t.clone() for t in out)
        copy_firsts(leaves, roots, got_out)
        for got, want in zip(got_out, want_out, strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)
        want_src = [t.clone() for t in (*leaves, *roots)]
        for k, a in enumerate(starts):
            for i in range(2):
                want_src[i + (2 if k else 0)][:, a] += out[i][:, (1 << k) - 1]
        add_firsts(leaves, roots, out)
        for got, want in zip((*leaves, *roots), want_src, strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)
    with pytest.raises(ValueError, match="contiguous"):
        copy_firsts(leaves, roots, (out[0].transpose(0, 1), out[1]))


def test_tile_overrides_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from prlstm.ops.triton import config

    monkeypatch.setattr(config, "interpreting", lambda: False)
    monkeypatch.setenv("PRLSTM_TRITON_TILES", "128,32,32,4,2")
    assert config.tiles(256, torch.bfloat16) == config.Tiles(128, 32, 32, 4, 2)
    monkeypatch.delenv("PRLSTM_TRITON_CHUNK_TILES", raising=False)
    assert config.chunk_tiles(256, torch.bfloat16) == config.Tiles(64, 16, 32, 8, 1)
    for bad in ("64,32", "64,32,x,8,1", "0,16,32,8,1"):
        monkeypatch.setenv("PRLSTM_TRITON_CHUNK_TILES", bad)
        with pytest.raises(ValueError, match="PRLSTM_TRITON_CHUNK_TILES must be five"):
            config.chunk_tiles(256, torch.bfloat16)
