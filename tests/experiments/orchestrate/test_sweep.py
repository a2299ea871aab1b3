"""Sweeps skip finished runs and resume killed ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prlstm.experiments.orchestrate.sweep import run_sweep
from prlstm.experiments.run.checkpoint import read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.train import train
from prlstm.experiments.run.trainlog import read_log


def test_sweep_resumes_a_killed_run_and_skips_finished_ones(smoke, tmp_path: Path) -> None:
    config: RunConfig = smoke("lstm", steps=8, ckpt_every=2)
    killed = tmp_path / "killed"
    run_dir = killed / config.run_id()

    def crash(step: int) -> None:
        if step == 5:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        train(config, run_dir, progress=False, on_step=crash)
    (summary,) = run_sweep([config], killed, progress=False)
    assert summary["status"] == "done"
    assert [int(r["step"]) for r in read_log(run_dir)] == [1, 2, 4, 6, 8]

    (fresh,) = run_sweep([config], tmp_path / "fresh", progress=False)
    assert fresh["score"] == summary["score"]
    fresh_dir = tmp_path / "fresh" / config.run_id()
    a = load_file(run_dir / read_manifest(run_dir)["weights"])
    b = load_file(fresh_dir / read_manifest(fresh_dir)["weights"])
    assert all(torch.equal(a[k], b[k]) for k in a)

    (again,) = run_sweep([config], killed, progress=False)
    assert again["status"] == "skipped" and again["score"] == summary["score"]


@pytest.mark.slow
def test_failed_run_is_reported_and_others_continue(smoke, tmp_path: Path) -> None:
    good: RunConfig = smoke("lstm")
    config_dir = tmp_path / good.run_id()
    config_dir.mkdir(parents=True)
    (config_dir / "checkpoint.json").write_text("{broken")
    other: RunConfig = smoke("lstm", seed=1)
    summaries = run_sweep([good, other], tmp_path, progress=False)
    assert [s["status"] for s in summaries] == ["failed", "done"]
    assert "checkpoint manifest" in summaries[0]["error"]


def test_workers_must_be_positive(smoke, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers"):
        run_sweep([smoke()], tmp_path, workers=0)
