"""Pinned CPU numerics: the same numbers on every x86-64 CPU with AVX2 (same torch build and
thread count), and a record of the settings a result was computed under.

Three libraries inside torch's CPU build choose their kernels by the CPU they run on, and
kernels for different instruction sets round differently (see ``docs/reproducibility.md`` for
the measurements behind each setting):

* ATen, torch's own element-wise and reduction kernels: ``ATEN_CPU_CAPABILITY`` (``default``,
  ``avx2``, ``avx512``). Pinned to ``avx2``, the widest level mainstream x86-64 CPUs have
  shared since 2013 (Intel Haswell, AMD Excavator and Zen onwards).
* oneMKL, the fp32 matrix products (``F.linear``, ``@``, ``bmm``): conditional numerical
  reproducibility, ``MKL_CBWR``. Pinned to ``COMPATIBLE``: oneMKL honours only ``AUTO`` and
  ``COMPATIBLE`` on non-Intel CPUs and silently runs ``AUTO`` for any other branch (on an AMD
  EPYC, ``MKL_CBWR=AVX2`` reads back as ``AUTO``), so ``COMPATIBLE`` is the one branch that is
  the same on Intel and AMD CPUs. ``MKL_DYNAMIC=FALSE``: oneMKL runs exactly the requested
  threads (Intel's condition for reproducible results across machines).
* oneDNN, used by ``torch.lstm``'s fused CPU kernel (the ``lstm`` model): ``ONEDNN_MAX_CPU_ISA``,
  pinned to ``AVX2``.

Each library reads its variable once, when it first runs a kernel (not at ``import torch``), so
:func:`pin` works in a process that has imported torch but not yet computed anything; the
``prlstm`` command calls it first thing (:func:`pinned`), and sweep workers inherit the
driver's values (:func:`worker_env`). A value the user set wins and is recorded as such;
``PRLSTM_CPU_PIN=0`` turns the pin off; on a CPU that is not x86-64 nothing is set.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SWITCH = "PRLSTM_CPU_PIN"
"""``PRLSTM_CPU_PIN=0`` (or ``false``, ``no``, ``off``): leave the CPU settings alone."""

MARKER = "PRLSTM_CPU_PINNED"
"""Set by :func:`pin`: the variables it set (comma-separated; ``-`` for none), so that processes
inheriting them record them as prlstm's, not as the user's."""

PINNED: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "MKL_DYNAMIC": "FALSE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
"""The pinned settings: environment variable -> value."""

ALIASES: dict[str, tuple[str, ...]] = {"ONEDNN_MAX_CPU_ISA": ("DNNL_MAX_CPU_ISA",)}
"""Older names a library still reads; a user value under one of them counts as the user's."""

_OFF = {"0", "false", "no", "off"}
_X86_64 = {"x86_64", "amd64", "x64"}
# oneMKL's MKL_CBWR_* constants (mkl_service.h) as mkl_cbwr_get returns them.
_MKL_BRANCHES = {0: "OFF", 1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3",
                 7: "SSE4_1", 8: "SSE4_2", 9: "AVX", 10: "AVX2", 11: "AVX512_MIC",
                 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}
_MKL_STRICT = 0x10000


def opted_out(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether ``PRLSTM_CPU_PIN`` turns the pin off."""
    env = os.environ if environ is None else environ
    return env.get(SWITCH, "").strip().lower() in _OFF


def is_x86_64(machine: str | None = None) -> bool:
    """Whether ``machine`` (default: this one, ``platform.machine()``) is x86-64."""
    return (platform.machine() if machine is None else machine).lower() in _X86_64


def cpu_has_avx2() -> bool | None:
    """Whether this CPU runs AVX2 and FMA (what torch's ``avx2`` kernels need); ``None`` when
    unknown. torch runs ``ATEN_CPU_CAPABILITY=avx2`` kernels without checking the CPU, so the
    pin only sets it where this is ``True``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags: set[str] = set()
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                break
        if flags:
            return {"avx2", "fma"} <= flags
    torch = sys.modules.get("torch")  # elsewhere: torch's cpuinfo, if torch is loaded already
    capabilities = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if capabilities is None:
        return None
    found = capabilities()
    return bool(found.get("avx2")) and bool(found.get("fma3"))


def _user_value(env: MutableMapping[str, str], key: str) -> str | None:
    for name in (key, *ALIASES.get(key, ())):
        if env.get(name):
            return env[name]
    return None


def _marked(env: MutableMapping[str, str]) -> set[str]:
    return {k for k in env.get(MARKER, "").split(",") if k and k != "-"}


def status(environ: MutableMapping[str, str] | None = None) -> str:
    """``on``, or why the pin is off: ``off: PRLSTM_CPU_PIN=0``, ``off: not x86-64 (arm64)``."""
    env = os.environ if environ is None else environ
    if opted_out(env):
        return f"off: {SWITCH}={env[SWITCH]}"
    if not is_x86_64():
        return f"off: not x86-64 ({platform.machine() or 'unknown'})"
    return "on"


def pin(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the :data:`PINNED` variables that are not set yet into ``environ`` (default
    ``os.environ``) and return those it set.

    A variable the user set is kept. Nothing is set when :func:`opted_out`, on a CPU that is not
    x86-64, and ``ATEN_CPU_CAPABILITY`` is not set on an x86-64 CPU without AVX2. Call it before
    torch's first tensor operation: each library reads its variable once.
    """
    env = os.environ if environ is None else environ
    if status(env) != "on":
        return {}
    wanted = dict(PINNED)
    if not cpu_has_avx2():
        del wanted["ATEN_CPU_CAPABILITY"]
    added = {key: value for key, value in wanted.items() if _user_value(env, key) is None}
    env.update(added)
    env[MARKER] = ",".join(sorted(_marked(env) | set(added))) or "-"
    return added


@contextmanager
def pinned() -> Iterator[dict[str, str]]:
    """:func:`pin` ``os.environ`` for the ``with`` block, then put back what was there (so that
    calling ``prlstm``'s ``main`` in a Python process leaves its environment as it was)."""
    names = [*PINNED, MARKER]
    before = {name: os.environ.get(name) for name in names}
    try:
        yield pin()
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def worker_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The variables a worker process needs to run under this process's settings: the pinned
    ones (and their aliases), the marker and the switch, as set here."""
    env = os.environ if environ is None else environ
    names = [*PINNED, *(a for names in ALIASES.values() for a in names), MARKER, SWITCH]
    return {name: env[name] for name in names if name in env}


def mkl_branch() -> str | None:
    """The conditional-numerical-reproducibility branch oneMKL runs (``OFF``, ``AUTO``,
    ``COMPATIBLE``, ...; ``,STRICT`` appended in strict mode), read from the oneMKL linked into
    torch; ``None`` where that cannot be read (a build without MKL, or not on Linux).

    oneMKL fixes the branch on its first call, so after this call ``MKL_CBWR`` has no effect."""
    import torch

    if not torch.backends.mkl.is_available():
        return None
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    code = get(-1)  # MKL_CBWR_ALL
    if code < 0:
        return None
    name = _MKL_BRANCHES.get(code & ~_MKL_STRICT, str(code & ~_MKL_STRICT))
    return name + (",STRICT" if code & _MKL_STRICT else "")


def _blas() -> str | None:
    import torch

    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return found[1] if found else None


def settings() -> dict[str, Any]:
    """The effective CPU settings of this process, for a result to record (``cpu_env``).

    Keys: ``pin`` (:func:`status`; ``not applied`` where it would be on but :func:`pin` was
    not called, e.g. Python code using prlstm without the ``prlstm`` command), ``env`` (each
    :data:`PINNED` variable's value, ``None`` if unset), ``user_set`` (those whose value is
    the user's, not prlstm's), ``cpu_capability`` (the ATen level torch runs), ``mkl_cbwr``
    (:func:`mkl_branch`), ``blas``, ``threads``, ``torch_version`` and ``machine``.
    """
    import torch

    env = {key: _user_value(os.environ, key) for key in PINNED}
    ours = _marked(os.environ)
    state = status()
    return {
        "pin": "not applied" if state == "on" and MARKER not in os.environ else state,
        "env": env,
        "user_set": sorted(k for k, v in env.items()
                           if v is not None and not (k in ours and v == PINNED[k])),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl_cbwr": mkl_branch(),
        "blas": _blas(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "machine": platform.machine(),
    }


def _branch(value: str) -> str:
    # "BRANCH=AVX2,STRICT" -> "AVX2,STRICT"
    return value.strip().upper().removeprefix("BRANCH=")


def check(found: dict[str, Any] | None = None) -> list[str]:
    """Where this process does not run what its environment asks for (``found``: its
    :func:`settings`, read now by default): a variable set after torch had already computed, or
    an oneMKL branch this CPU does not honour."""
    found = settings() if found is None else found
    problems = []
    level = found["env"].get("ATEN_CPU_CAPABILITY")
    if level and found["cpu_capability"].lower() != level.lower():
        problems.append(f"ATEN_CPU_CAPABILITY={level} but torch runs "
                        f"{found['cpu_capability']} kernels (it was set after torch's first "
                        "operation in this process; set it before starting Python)")
    cbwr = found["env"].get("MKL_CBWR")
    if cbwr and found["mkl_cbwr"] is not None and found["mkl_cbwr"] != _branch(cbwr):
        problems.append(f"MKL_CBWR={cbwr} but oneMKL runs branch {found['mkl_cbwr']} (set "
                        "after oneMKL's first call, or a branch this CPU does not support: "
                        "non-Intel CPUs honour only AUTO and COMPATIBLE)")
    return problems
