"""Every test that needs an optional extra skips, with a reason, when the extra is absent.

Runs the fast tier of a few test files in a subprocess with the extras hidden
(``PRLSTM_HIDE_EXTRAS``, see tests/conftest.py) and checks that nothing fails and that the
tests of each hidden extra were skipped rather than run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = "transformers,accelerate,ray,xlstm,sklearn,matplotlib,lm_eval,triton,mkdocs"
FILES = ["tests/hf/test_common.py", "tests/models/test_xlstm_cores.py",
         "tests/ops/test_triton.py", "tests/experiments/test_reliability.py",
         "tests/analysis", "tests/docs/test_site.py"]


@pytest.mark.slow
def test_tests_of_missing_extras_skip() -> None:
    env = {**os.environ, "PRLSTM_HIDE_EXTRAS": EXTRAS}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", "not slow", "-rs", *FILES], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)
    tail = run.stdout[-3000:]
    assert run.returncode == 0, tail
    assert "failed" not in tail.splitlines()[-1] and "error" not in tail.splitlines()[-1]
    for reason in ("the hf extra", "xlstm package", "needs triton", "matplotlib"):
        assert reason in run.stdout, (reason, tail)
