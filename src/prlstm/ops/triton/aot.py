"""Ahead-of-time compile check: build every kernel specialization for a GPU, without a GPU.

Triton compiles to PTX and cubin on any machine; this module does so for each kernel variant
the backend launches (merge/refinement, with/without stored pre-activations, each backward
flavour, the chunk kernels) with the tiles :func:`~prlstm.ops.triton.config.tiles` (or
``chunk_tiles``) would pick, and reports registers, stack (spills) and shared memory per
kernel. It catches errors the CPU
interpreter cannot (layouts, register pressure, ``tl.dot`` constraints)::

    python -m prlstm.ops.triton.aot --arch 90 --hidden 256 --dtype bf16

Must run without ``TRITON_INTERPRET``. Integer arguments that are multiples of 16 at run
time (strides, H) are marked divisible by 16, as Triton's launcher would specialise them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

from prlstm.ops.triton.config import Tiles, chunk_tiles, dot_precision, interpreting, tiles

_TY = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_NOT_DIVISIBLE = ("rows", "m", "B", "T", "n_chunks")


def _variants(ty: str) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """``(label, kernel name, pointer dtypes, constexprs)`` for every launched variant."""
    fwd_ptrs = {"*": ty, "c1_ptr": "fp32", "c2_ptr": "fp32", "b_ptr": "fp32", "c_ptr": "fp32",
                "z_ptr": "fp32"}
    bwd_ptrs = {"*": "fp32", "dzn_ptr": ty, "wn_ptr": ty, "dz_ptr": ty}
    out = []
    for nc in (2, 1):
        for store in (False, True):
            out.append((f"fwd NC={nc} store_z={store}", "lstm_stage_fwd_kernel", fwd_ptrs,
                        {"NC": nc, "STORE_Z": store, "EVEN_K": True}))
    for nc, acc in ((2, True), (1, False)):
        for has_dh in (True, False):
            out.append((f"bwd NC={nc} {'dh' if has_dh else 'next'}", "lstm_stage_bwd_kernel",
                        bwd_ptrs, {"NC": nc, "HAS_DH": has_dh, "HAS_NEXT": not has_dh,
                                   "ACC": acc}))
    out.append(("input_grad", "input_grad_kernel", {"*": "fp32", "dz_ptr": ty, "w_ptr": ty},
                {"NO": 2}))
    chunk_ptrs = {"*": ty, "c0_ptr": "fp32", "rc_ptr": "fp32", "oc_ptr": "fp32",
                  "b0_ptr": "fp32", "br_ptr": "fp32", "sc_ptr": "fp32"}
    for name in ("up", "down"):
        for R in (0, 1, 2):
            out.append((f"chunk_{name} R={R} C=16", f"lstm_chunk_{name}_kernel", chunk_ptrs,
                        {"R": R, "LEVELS": 4, "EVEN_K": True}))
    for add in (False, True):
        ptrs = {"*": "fp32"} if add else {"*": ty, "leaf_c_ptr": "fp32", "roots_c_ptr": "fp32",
                                          "out_c_ptr": "fp32"}
        out.append((f"firsts add={add}", "firsts_kernel", ptrs, {"ADD": add, "BLOCK": 256}))
    return out


def _resources(cubin: bytes) -> str:
    """``REG:.. STACK:..`` from the bundled ``cuobjdump``, or '' when it is unavailable."""
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                        "cuobjdump")
    if not os.path.exists(tool):
        return ""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        res = subprocess.run([tool, "-res-usage", f.name], capture_output=True, text=True)
    line = next((s for s in res.stdout.splitlines() if "REG:" in s), "")
    return " ".join(line.split()[:2])


def check(arch: int = 90, hidden: int = 256, dtype: torch.dtype = torch.bfloat16,
          tile: Tiles | None = None) -> list[dict[str, Any]]:
    """Compile every variant for ``sm_{arch}``; one result dict per kernel variant."""
    if interpreting():
        raise RuntimeError("unset TRITON_INTERPRET: the compile check needs real JIT kernels")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from prlstm.ops.triton import bwd, chunk, firsts, fwd

    kernels = {"firsts_kernel": firsts.firsts_kernel,
               "lstm_chunk_up_kernel": chunk.lstm_chunk_up_kernel,
               "lstm_chunk_down_kernel": chunk.lstm_chunk_down_kernel,
               "lstm_stage_fwd_kernel": fwd.lstm_stage_fwd_kernel,
               "lstm_stage_bwd_kernel": bwd.lstm_stage_bwd_kernel,
               "input_grad_kernel": bwd.input_grad_kernel}
    ty = _TY[dtype]
    results = []
    for label, name, ptrs, const in _variants(ty):
        kernel = kernels[name]
        tile_k = tile or (chunk_tiles if "chunk" in name else tiles)(hidden, dtype)
        common = {"DOT_F32": False, "PRECISION": dot_precision(dtype), "BM": tile_k.bm,
                  "BN": tile_k.bn, "BK": tile_k.bk}
        const = {**const, **{k: v for k, v in common.items() if k in kernel.arg_names}}
        sig, attrs = {}, {}
        for i, arg in enumerate(kernel.arg_names):
            if arg in const:
                sig[arg] = "constexpr"
                continue
            sig[arg] = "*" + ptrs.get(arg, ptrs["*"]) if arg.endswith("_ptr") else "i32"
            if arg not in _NOT_DIVISIBLE and hidden % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        t0 = time.perf_counter()
        compiled = triton.compile(ASTSource(fn=kernel, signature=sig, constexprs=const,
                                            attrs=attrs),
                                  target=GPUTarget("cuda", arch, 32),
                                  options={"num_warps": tile_k.num_warps,
                                           "num_stages": tile_k.num_stages})
        results.append({"kernel": label, "dtype": ty, "tiles": tuple(tile_k),
                        "resources": _resources(compiled.asm["cubin"]),
                        "shared_bytes": compiled.metadata.shared,
                        "tensor_cores": "wgmma" in compiled.asm["ptx"] or
                                        "mma.sync" in compiled.asm["ptx"],
                        "seconds": round(time.perf_counter() - t0, 2)})
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI: print one line per kernel variant; exit 1 if any spills registers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dtype", choices=sorted(_TY.values()), default="bf16")
    args = ap.parse_args(argv)
    dtype = {v: k for k, v in _TY.items()}[args.dtype]
    spills = False
    for r in check(args.arch, args.hidden, dtype):
        print(f"{r['kernel']:<28} {r['dtype']} tiles={r['tiles']} {r['resources']:<22} "
              f"smem={r['shared_bytes']} tc={r['tensor_cores']} ({r['seconds']} s)")
        spills |= "STACK:" in r["resources"] and not r["resources"].endswith("STACK:0")
    return 1 if spills else 0


if __name__ == "__main__":
    sys.exit(main())
