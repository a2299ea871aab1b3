"""Budget presets (experiments.md "Budgets"): one protocol at three sizes.

Every preset keeps the protocol's shape — Adam, constant lr 1e-3, clipping 1.0, batch 128,
uniform curriculum over 1..40, accuracy at every length up to M, score over 41..M — and shrinks
only what costs time. Any field can still be overridden (CLI flags / ``make_config`` keywords).

``smoke`` — seconds, for tests and CI: H = 8 (a 1-layer, width-16 transformer), batch 8, 6
updates, training lengths 1..5, evaluation to M = 12 with 8 sequences per length. It checks the
plumbing, not learning.

``cpu`` — the main job on 2 CPU cores: four regular tasks × pr_lstm, lstm, transformer, one
seed, two worker processes with one torch thread each, about 18 minutes in all. Measured on this
project's 2-core machine (one thread, H = 128): a training step costs ≈0.12 s for pr_lstm,
≈0.022 s for lstm and ≈0.17 s for the transformer; evaluating lengths 1..500 with 16 sequences
per length costs ≈50 s, ≈10 s and ≈100 s (quadratic attention). Choices:

* H = 128 for the recurrent models (a prototype at this width learned parity_check in ~750
  steps); the paper's transformer unchanged (5 layers × 64, 8 heads, sin/cos positions).
* Steps per model, from probes of seed 0: pr_lstm 2,000 (parity_check generalises by ~750,
  even_pairs by ~250, cycle_navigation by ~2,000); lstm 3,500 (even_pairs ~500, parity_check
  ~2,750; cycle_navigation still fails at 5,000); transformer 400 (it fits not even the training
  lengths of even_pairs within 1,000 steps at lr 1e-3, so more steps would only spend time).
  modular_arithmetic is not learned by either recurrent model within this budget.
* Evaluation at every length 1..500 but with 16 sequences per length (one sub-batch), the
  same test set for every model: the score, a mean over 460 lengths, still has a standard
  error below 1 point; per-length curves are noisier (±12 points at chance level).

``gpu`` — the full protocol shape (H = 256, lengths to 500, 512 sequences per length in
sub-batches of 64) with a reduced, adjustable step count (default 100,000; the paper used 1M).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from prlstm import models
from prlstm.experiments.config import RunConfig

REGULAR_TASKS = ("even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation")
MAIN_MODELS = ("pr_lstm", "lstm", "transformer")


@dataclass(frozen=True)
class Preset:
    """A named budget.

    Attributes:
        name: preset name, recorded in every run's config.
        run: RunConfig field values.
        hparams: model hyper-parameters, each applied only to models that accept the key.
        per_model: RunConfig fields (and an ``hparams`` dict) for specific models.
        tasks, models, seeds, lrs: the default sweep grid of ``prlstm sweep`` / ``run``.
    """

    name: str
    run: dict[str, Any]
    hparams: dict[str, Any] = field(default_factory=dict)
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: tuple[str, ...] = REGULAR_TASKS
    models: tuple[str, ...] = MAIN_MODELS
    seeds: tuple[int, ...] = (0,)
    lrs: tuple[float, ...] = (1e-3,)


_SMALL_TRANSFORMER = {"embedding_dim": 16, "num_layers": 1, "num_heads": 2, "ff_size": 32}

PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        run={"steps": 6, "batch_size": 8, "train_length": 5, "eval_length": 12,
             "eval_per_length": 8, "eval_batch_size": 8, "log_every": 2, "ckpt_every": 3,
             "device": "cpu"},
        hparams={"hidden_size": 8, "memory_size": 8, "stack_size": 8, **_SMALL_TRANSFORMER},
        tasks=("parity_check",),
    ),
    "cpu": Preset(
        name="cpu",
        run={"steps": 2000, "eval_per_length": 16, "eval_batch_size": 16, "log_every": 25,
             "ckpt_every": 250},
        hparams={"hidden_size": 128},
        per_model={"lstm": {"steps": 3500}, "rnn": {"steps": 3500},
                   "transformer": {"steps": 400}},
    ),
    "gpu": Preset(
        name="gpu",
        run={"steps": 100_000, "log_every": 200, "ckpt_every": 5000},
        hparams={"hidden_size": 256},
    ),
}


def preset_names() -> list[str]:
    """The preset names."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: "
                         f"{', '.join(PRESETS)}") from None


def accepted_hparams(model: str, candidates: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``candidates`` whose keys ``model`` accepts (per ``models.HPARAMS``)."""
    known = models.HPARAMS.get(model, {})
    return {k: v for k, v in candidates.items() if k in known}


def make_config(task: str, model: str, preset: str | None = None, *,
                hparams: dict[str, Any] | None = None,
                task_options: dict[str, Any] | None = None,
                **fields: Any) -> RunConfig:
    """A RunConfig: RunConfig defaults < preset < preset's per-model values < arguments.

    Explicit ``hparams`` are passed to the model unfiltered (an incompatible one raises when
    the model is built); ``fields`` are RunConfig fields, ``None`` values are ignored.
    """
    values: dict[str, Any] = {"task": task, "model": model, "task_options": {}, "hparams": {}}
    if preset is not None:
        chosen = get_preset(preset)
        specific = dict(chosen.per_model.get(model, {}))
        values.update(chosen.run, preset=chosen.name)
        values["hparams"] = {**accepted_hparams(model, chosen.hparams),
                             **specific.pop("hparams", {})}
        values.update(specific)
    values["hparams"] = {**values["hparams"], **(hparams or {})}
    values["task_options"] = dict(task_options or {})
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown run settings: {', '.join(unknown)}")
    values.update({k: v for k, v in fields.items() if v is not None})
    return RunConfig(**values)
