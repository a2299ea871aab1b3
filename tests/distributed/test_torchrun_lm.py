"""``prlstm lm train`` under ``torchrun --nproc-per-node 2`` (DDP, gloo on CPU).

Two processes at a global batch of 4 (2 rows each) must reach the weights of one process at
batch 4 after the same updates, up to floating-point reduction order (tolerance 1e-6 absolute
on every weight); only rank 0 writes, and the logged curve matches.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from prlstm.cli import main
from prlstm.experiments.run.checkpoint import read_manifest
from prlstm.experiments.run.io import read_csv
from tests.distributed.conftest import subprocess_env
from tests.distributed.netns import Hosts, unavailable_reason
from tests.distributed.test_torchrun import TOLERANCE, free_port

TEXT = "def f(x):\n    return x + 1\n\nclass A:\n    pass\n" * 20


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port",
            str(free_port()), "-m", "prlstm.cli", *args]
    env = subprocess_env()
    if unavailable_reason() is None:  # a namespace with only lo: nothing else to reach
        with Hosts(1) as host:
            return host.run(0, argv, env=env, timeout=300)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_lm_two_processes_match_one(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        (corpus / f"f{i}.py").write_text(TEXT[i:] + f"# file {i}\n")
    flags = ["lm", "train", "--model", "pr_lstm", "--files", str(corpus), "--batch-size", "4",
             "--seq-len", "16", "--steps", "4", "--val-every", "2", "--ckpt-every", "2",
             "--embedding-size", "8", "--hidden-size", "8", "--quiet"]
    one, ddp = tmp_path / "one", tmp_path / "ddp"
    assert main([*flags, "--out", str(one)]) == 0
    done = _torchrun([*flags, "--out", str(ddp)])
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("pr_lstm:") == 1  # rank 0 reports, once
    wa = load_file(one / read_manifest(one)["weights"])
    wb = load_file(ddp / read_manifest(ddp)["weights"])
    assert wa.keys() == wb.keys()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= TOLERANCE
    rows_a, rows_b = read_csv(one / "log.csv"), read_csv(ddp / "log.csv")
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] == ["2", "4"]
    for a, b in zip(rows_a, rows_b, strict=True):
        assert abs(float(a["train_bpc"]) - float(b["train_bpc"])) < 1e-5
        assert abs(float(a["val_bpc"]) - float(b["val_bpc"])) < 1e-5

    # the data-parallel path is really taken: a global batch the 2 ranks cannot split fails
    odd = _torchrun([*[f if f != "4" else "3" for f in flags], "--out", str(tmp_path / "odd")])
    assert odd.returncode != 0 and "multiple of the number of torchrun processes" in odd.stderr
