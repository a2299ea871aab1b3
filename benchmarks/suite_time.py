"""How long the README's two test commands take here (not a test).

Runs the full suite (``python -m pytest -q``) and the fast tier (``-m "not slow"``) of the
checkout this file is in, one after the other, and writes their wall-clock seconds and
pytest's counts to a JSON file. The README's "about N minutes" and "N s" figures are read from
that file by ``tests/docs/test_readme_figures.py``. Other work on the machine slows both, so
the file records the load average at the start; run it on an otherwise idle machine for the
README's figures::

    python benchmarks/suite_time.py [--out benchmarks/results/test_suite.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "test_suite.json"
TIERS = {"full": [], "fast": ["-m", "not slow"]}
COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


def run_tier(extra: list[str]) -> dict[str, Any]:
    """Wall-clock seconds, exit status and pytest's counts of one run of the suite."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *extra], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    last = (done.stdout.strip().splitlines() or [""])[-1]
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
              for n, kind in COUNTS.findall(last)}
    return {"command": " ".join(["python -m pytest -q", *(f'"{a}"' if " " in a else a
                                                          for a in extra)]),
            "seconds": round(seconds, 1), "returncode": done.returncode, "counts": counts,
            "summary": last, "load_average_at_start": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--tiers", default="full,fast", help="comma-separated: full, fast")
    args = parser.parse_args(argv)
    tiers = [t for t in args.tiers.split(",") if t]
    if unknown := [t for t in tiers if t not in TIERS]:
        parser.error(f"--tiers: unknown tier(s) {unknown}; expected full and/or fast")
    import torch

    data: dict[str, Any] = {"cpus": os.cpu_count(), "machine": platform.machine(),
                            "python": platform.python_version(), "torch": torch.__version__}
    for tier in tiers:
        data[tier] = run_tier(TIERS[tier])
        print(f"{tier}: {data[tier]['summary']} ({data[tier]['seconds']} s wall)",
              file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    return 0 if all(data[t]["returncode"] == 0 for t in tiers) else 1


if __name__ == "__main__":
    raise SystemExit(main())
