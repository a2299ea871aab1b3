"""Shared fixtures: tiny smoke-preset runs in temporary directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.run.config import RunConfig

SmokeFactory = Callable[..., RunConfig]


@pytest.fixture
def smoke() -> SmokeFactory:
    """``smoke(model="pr_lstm", task="parity_check", **fields)``: a smoke-preset RunConfig."""

    def make(model: str = "pr_lstm", task: str = "parity_check", **fields: object) -> RunConfig:
        return make_config(task, model, "smoke", **fields)

    return make


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """An empty results directory."""
    path = tmp_path / "results"
    path.mkdir()
    return path
