"""Training updates, clipping, the fixed test set and the score's range.

As described in docs/benchmark.md#training and docs/benchmark.md#evaluation-and-score.

Resume equivalence: a killed or interrupted run, resumed, ends bit-identical on the CPU.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from prlstm.experiments.run.checkpoint import read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import accuracy_by_length, eval_batch_seed
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.train import train
from prlstm.experiments.run.trainlog import read_log


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


class Crash(RuntimeError):
    """Stands in for the process being killed."""


def _crash_at(step: int) -> Callable[[int], None]:
    def callback(current: int) -> None:
        if current == step:
            raise Crash(f"killed at step {current}")

    return callback


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / read_manifest(run_dir)["weights"])


def _final_state(run_dir: Path) -> dict:
    return torch.load(run_dir / read_manifest(run_dir)["state"], weights_only=True)


def _assert_same_run(a: Path, b: Path) -> None:
    weights_a, weights_b = _final_weights(a), _final_weights(b)
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    state_a, state_b = _final_state(a), _final_state(b)
    for index, slot in state_a["optimizer"]["state"].items():
        for key, value in slot.items():
            assert torch.equal(value, state_b["optimizer"]["state"][index][key]), key
    assert torch.equal(state_a["rng"]["torch"], state_b["rng"]["torch"])
    log_a = [(r["step"], r["loss"], r["accuracy"]) for r in read_log(a)]
    log_b = [(r["step"], r["loss"], r["accuracy"]) for r in read_log(b)]
    assert log_a == log_b


@pytest.mark.parametrize("model", ["pr_lstm", "transformer"])  # transformer: dropout RNG
def test_killed_run_resumes_to_identical_weights(smoke, tmp_path: Path, model: str) -> None:
    config: RunConfig = smoke(model, steps=10, ckpt_every=3, log_every=1)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    train(config, reference, progress=False)
    with pytest.raises(Crash):
        train(config, killed, progress=False, on_step=_crash_at(8))
    assert read_manifest(killed)["step"] == 6  # the last periodic checkpoint
    assert max(r["step"] for r in read_log(killed)) == 8  # rows past it exist before resume
    summary = train(config, killed, resume=True, progress=False)
    assert (summary.resumed_from, summary.step) == (6, 10)
    _assert_same_run(reference, killed)


def test_ctrl_c_saves_a_checkpoint_at_the_current_step(smoke, tmp_path: Path) -> None:
    config: RunConfig = smoke("transformer", steps=9, ckpt_every=100, log_every=2)
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    train(config, reference, progress=False)

    def press_ctrl_c(step: int) -> None:
        if step == 4:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
        train(config, interrupted, progress=False, on_step=press_ctrl_c)
    # the request is honoured at the next update boundary
    assert read_manifest(interrupted)["step"] == 5
    train(config, interrupted, resume=True, progress=False)
    _assert_same_run(reference, interrupted)


def test_resuming_a_finished_run_changes_nothing(smoke, tmp_path: Path) -> None:
    config: RunConfig = smoke(steps=4)
    train(config, tmp_path, progress=False)
    before = _final_weights(tmp_path)
    summary = train(config, tmp_path, resume=True, progress=False)
    assert summary.step == 4
    after = _final_weights(tmp_path)
    assert all(torch.equal(before[k], after[k]) for k in before)
