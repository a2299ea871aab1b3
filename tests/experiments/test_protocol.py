"""Training updates, clipping, the fixed test set and the score's range.

As described in docs/benchmark.md#training and docs/benchmark.md#evaluation-and-score.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import accuracy_by_length, eval_batch_seed
from prlstm.experiments.factory import build_model, build_task
from prlstm.experiments.train import train
from prlstm.experiments.trainlog import read_log


def test_steps_counts_updates_and_log_rows(smoke, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 67 (adapted): S steps = exactly S updates; rows at 1, k, 2k, ..., S."""
    updates = []
    original = torch.optim.Adam.step

    def counting_step(self: torch.optim.Adam, *args: object, **kwargs: object) -> object:
        updates.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    train(smoke(steps=7, log_every=3), tmp_path, progress=False)
    assert len(updates) == 7
    assert [int(r["step"]) for r in read_log(tmp_path)] == [1, 3, 6, 7]


def test_gradients_are_clipped_to_global_norm_one(smoke, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 68: global-norm clipping at 1.0 before every Adam update."""
    norms = []
    original = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters: object, max_norm: float, *args: object,
                       **kwargs: object) -> torch.Tensor:
        params = list(parameters)  # type: ignore[call-overload]
        norms.append(max_norm)
        total = original(params, max_norm, *args, **kwargs)
        clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        assert clipped.item() <= max_norm * (1 + 1e-5)
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    train(smoke(steps=3), tmp_path, progress=False)
    assert norms == [1.0, 1.0, 1.0]


def test_one_accuracy_per_length_from_a_seed_independent_test_set(smoke) -> None:
    """Item 69 (adapted): entries for 1..M; test batches depend on eval settings only."""
    config: RunConfig = smoke(eval_per_length=16, eval_batch_size=8)
    task = build_task(config)
    accuracies = accuracy_by_length(build_model(config, task), task, config)
    assert len(accuracies) == config.eval_length
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    other = smoke("transformer", seed=5, lr=0.1, eval_per_length=16, eval_batch_size=8)
    seeds = {eval_batch_seed(config, length, j) for length in (1, 12) for j in (0, 1)}
    assert seeds == {eval_batch_seed(other, length, j) for length in (1, 12) for j in (0, 1)}
    assert len(seeds) == 4
