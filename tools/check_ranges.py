#!/usr/bin/env python3
"""Check one end of the dependency ranges declared in ``pyproject.toml``: install, then test.

    python tools/check_ranges.py --end newest --venv /tmp/venvs/prlstm-newest
    python tools/check_ranges.py --end oldest --venv /tmp/venvs/prlstm-oldest
    python tools/check_ranges.py --end oldest --venv /tmp/venvs/prlstm-oldest --skip-install

Steps (see ``docs/dependencies.md`` for the policy this serves):

1. a fresh virtual environment in ``--venv`` (removed first if it exists);
2. ``torch==2.13.0`` (``--torch``) installed first, alone: on the project's machines this is the
   CPU build on local disk, and installing it first keeps pip from pulling a CUDA build;
3. the project, editable, with every extra (``dev`` is their union):

   * ``--end newest``: ``pip install --upgrade --upgrade-strategy eager`` with pip's default
     resolution, i.e. the newest release each declared range admits;
   * ``--end oldest``: the same, constrained by a file generated from pyproject's lower bounds,
     ``name==lower`` for every declared dependency (markers kept);

   torch is pinned to the version of step 2 in both cases;
4. pip's resolved versions of the key packages, ``pip check``, and the verdict of the venv's
   ``ruff check .`` (printed only: the linter is a dev dependency the suite does not run);
5. ``python -m pytest -q`` run with the venv's python *without activating the venv* (its ``bin``
   is not put on ``PATH``: the Ray tests once broke exactly that way), in the repository root.

The exit code is pytest's (or 2 when the installation failed). ``--skip-install`` reuses the venv
as it is (after a code change, say) and goes straight to steps 4-5. Arguments after ``--`` go to
pytest. Run it niced on a shared machine: ``nice -n 10 python tools/check_ranges.py ...``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    sys.exit("tools/check_ranges.py needs Python >= 3.11 (tomllib)")

try:
    from packaging.requirements import Requirement
except ModuleNotFoundError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
KEY_PACKAGES = ["torch", "transformers", "triton", "ray", "numpy", "scipy", "xlstm", "lm-eval"]
LOWER_OPS = (">=", "==", "~=", "===")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path = ROOT / "pyproject.toml") -> list[tuple[str, Requirement]]:
    """Every declared dependency as (group, requirement); group is ``core`` or the extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    out = [("core", Requirement(s)) for s in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out += [(extra, Requirement(s)) for s in reqs]
    return out


def lower_bound(req: Requirement) -> str | None:
    """The version of ``>=``/``==``/``~=`` in ``req``'s specifier (the highest if several)."""
    from packaging.version import Version  # noqa: PLC0415 - same source as Requirement
    found = [s.version for s in req.specifier if s.operator in LOWER_OPS]
    return max(found, key=Version) if found else None


def oldest_constraints(torch_version: str) -> list[str]:
    """``name==lower ; marker`` lines, one per (name, marker), from pyproject's lower bounds."""
    lines: dict[tuple[str, str], str] = {}
    missing = []
    for group, req in declared():
        name = canonical(req.name)
        if name == "torch":
            continue
        low = lower_bound(req)
        if low is None:
            missing.append(f"{group}: {req}")
            continue
        marker = f" ; {req.marker}" if req.marker else ""
        key = (name, str(req.marker or ""))
        if key in lines and lines[key] != f"{name}=={low}{marker}":
            sys.exit(f"conflicting lower bounds for {name}: {lines[key]} vs {low} ({group})")
        lines[key] = f"{name}=={low}{marker}"
    if missing:
        sys.exit("no lower bound declared for: " + "; ".join(missing))
    by_name: dict[str, set[str]] = {}
    for (name, _), line in lines.items():
        by_name.setdefault(name, set()).add(line.split(" ;")[0])
    for name, pins in by_name.items():
        if len(pins) > 1:
            sys.exit(f"{name} has different lower bounds under different markers: {sorted(pins)}")
    return [f"torch=={torch_version}", *sorted(lines.values())]


def run(cmd: list[str], **kw) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, **kw)


def install(venv: Path, end: str, torch_version: str, base_python: str) -> int:
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    if run([base_python, "-m", "venv", str(venv)]) != 0:
        return 2
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "--disable-pip-version-check"]
    if run([*pip, "install", "-q", "--upgrade", "pip"]) != 0:
        return 2
    if run([*pip, "install", f"torch=={torch_version}"]) != 0:
        return 2
    lines = oldest_constraints(torch_version) if end == "oldest" else [f"torch=={torch_version}"]
    constraints = venv / f"constraints-{end}.txt"
    constraints.write_text("\n".join(lines) + "\n")
    print(f"constraints ({constraints}):\n  " + "\n  ".join(lines), flush=True)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {})
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    # -c on the command line is added to pip's configured constraint file (if any)
    return 2 if run([*pip, "install", "--upgrade", "--upgrade-strategy", "eager",
                     "-c", str(constraints), "-e", target]) != 0 else 0


def report_versions(venv: Path) -> dict[str, str]:
    py = str(venv / "bin" / "python")
    out = subprocess.run([py, "-m", "pip", "list", "--format=json",
                          "--disable-pip-version-check"], capture_output=True, text=True)
    versions = {canonical(p["name"]): p["version"] for p in json.loads(out.stdout or "[]")}
    names = KEY_PACKAGES + sorted({canonical(r.name) for _, r in declared()} - set(KEY_PACKAGES))
    print("resolved versions:")
    for name in names:
        print(f"  {name:14} {versions.get(name, '(not installed)')}")
    print(f"  {'python':14} " + subprocess.run(
        [py, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True).stdout.strip())
    check = subprocess.run([py, "-m", "pip", "check", "--disable-pip-version-check"],
                           capture_output=True, text=True)
    print("pip check:", (check.stdout + check.stderr).strip() or "(nothing)", flush=True)
    return versions


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, pytest_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--end", choices=["newest", "oldest"], required=True,
                    help="which end of the declared ranges to install")
    ap.add_argument("--venv", type=Path, default=None,
                    help="where to create the venv (default /tmp/venvs/prlstm-END)")
    ap.add_argument("--skip-install", action="store_true",
                    help="reuse the venv as it is: only print versions and run pytest")
    ap.add_argument("--torch", default="2.13.0", help="torch version installed first")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter the venv is made from (default: this one)")
    ap.add_argument("--print-constraints", action="store_true",
                    help="print the oldest-end constraints and exit")
    args = ap.parse_args(argv)
    if args.print_constraints:
        print("\n".join(oldest_constraints(args.torch)))
        return 0
    venv = (args.venv or Path(f"/tmp/venvs/prlstm-{args.end}")).resolve()
    if args.skip_install:
        if not (venv / "bin" / "python").exists():
            print(f"--skip-install: no venv at {venv}", file=sys.stderr)
            return 2
    elif install(venv, args.end, args.torch, args.python) != 0:
        print("installation failed", file=sys.stderr)
        return 2
    versions = report_versions(venv)
    ruff = venv / "bin" / "ruff"
    if ruff.exists():  # dev's linter: not part of the suite, its verdict is printed only
        lint = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
        said = (lint.stdout + lint.stderr).strip().splitlines()
        print(f"ruff {versions.get('ruff', '?')} check . (exit {lint.returncode}):",
              said[-1] if said else "(no output)", flush=True)
    # Not activated: PATH and VIRTUAL_ENV are left as the caller has them.
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="check-ranges-") as tmp:
        log = Path(tmp) / "pytest.log"
        cmd = [str(venv / "bin" / "python"), "-m", "pytest", "-q", *pytest_args]
        print("+", " ".join(cmd), flush=True)
        with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
            with log.open("w") as fh:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    fh.write(line)
            code = proc.wait()
        summary = next((ln.strip(" =") for ln in reversed(log.read_text().splitlines())
                        if re.fullmatch(r"=*\s*(\d+ \w+.*|no tests ran) in [\d.]+s.*", ln)), "?")
    key = ", ".join(f"{n} {versions.get(n, '-')}" for n in KEY_PACKAGES)
    print(f"\ncheck_ranges: end={args.end} date={datetime.date.today()} venv={venv}\n"
          f"  {key}\n  pytest exit {code}: {summary}")
    return code


if __name__ == "__main__":
    sys.exit(main())
