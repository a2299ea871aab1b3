"""Budget presets (docs/benchmark.md#presets): one protocol at several sizes.

Every preset keeps the protocol's shape — Adam, constant lr 1e-3, clipping 1.0, batch 128,
uniform curriculum over 1..40, accuracy at every length up to M, score over 41..M — and shrinks
only what costs time. Any field can still be overridden (CLI flags / ``make_config`` keywords).

``smoke`` — seconds, for tests and CI: H = 8 (a 1-layer, width-16 transformer), batch 8, 6
updates, training lengths 1..5, evaluation to M = 12 with 8 sequences per length. It checks the
plumbing, not learning.

``cpu`` — the main job on 2 CPU cores, designed so that its story does not hang on
one seed: parity_check and cycle_navigation × pr_lstm and lstm with seeds 0, 1, 2, plus the
transformer (seed 0), in two worker processes with one torch thread each, about 15 minutes in
all on this project's 2-core machine. Measured there (one thread, H = 128, no contention): a
training step costs ≈0.06 s for pr_lstm, ≈0.022 s for lstm and ≈0.13 s for the transformer;
evaluating lengths 1..500 with 16 sequences per length costs ≈12 s, ≈4 s and ≈70 s. Choices:

* Tasks: the two regular tasks where the comparison is informative at this budget.
  parity_check separates the recurrent models from the transformer; cycle_navigation
  separates PR-LSTM from the LSTM. even_pairs is solved by both recurrent models within a few
  hundred steps (same story as parity_check); modular_arithmetic was learned by no model at
  this budget (scores at chance, ~20 %).
* H = 128 for the recurrent models; the paper's transformer unchanged (5 layers × 64, 8 heads,
  sin/cos positions).
* Steps: pr_lstm 2,000 (cycle_navigation generalises at 1,200–1,600 in the seeds that do);
  lstm 3,500 (parity_check generalises by ~2,750); transformer 1,000 at lr 3e-4, the most this
  budget affords — it stays on its initial plateau (training accuracy ≈ 50 % on even_pairs for
  ~2,000 steps at lr 3e-4), so its column says whether it fitted its training range at all.
* A linear learning-rate decay to 0 over the last 10 % of steps (``lr_decay_fraction=0.1``),
  for this preset only. Measured on cycle_navigation × pr_lstm, seeds 0–3
  (results/cpu-pilot): with a constant lr, seed 0 generalised (validation 0.94–1.00 from
  step 1,400 to 1,800), then a loss spike in the last 200 steps took its score to 12.6 %;
  with the decay the same seed scores 95.6 % and the other seeds move by at most 6 points
  (45.5 → 51.3, 96.6 → 95.4, 93.3 → 93.1). The LSTM's training accuracy also jumps around at
  lr 1e-3 (6–8 drops of > 5 points in the last quarter of each cycle_navigation run of the
  previous main job).
* Validation every 100 steps on 6 lengths spread over 41..500, 8 sequences each (≈1.5 % of the
  training time): "steps to generalise" and the validation curves. It never selects weights.
* Evaluation at every length 1..500 but with 16 sequences per length (one sub-batch), the
  same test set for every model: the score, a mean over 460 lengths, still has a standard
  error below 1 point; per-length curves are noisier (±12 points at chance level).

``cpu-full`` — the paper's whole table at a CPU budget: all 15 tasks × pr_lstm, rnn,
lstm, transformer, stack_rnn, tape_rnn, seeds 0, 1, 2 on the regular tasks and 0, 1 elsewhere
(204 runs), the ``cpu`` preset's protocol otherwise (H = 128, final 10 % lr decay, validation —
every 250 steps here —, 16 test sequences per length). Steps per model were chosen from
``benchmarks/step_costs.py`` (one thread, H = 128, batch 128, length 20, measured on this
project's 2-core VM while other jobs ran, so ±20 %; benchmarks/results/step_costs.json): a
training step costs 46–61 ms for pr_lstm on the single-output tasks and 133–290 ms on the
sequence-output ones, lstm 12–25 / 17–50, rnn 4–9 / 8–14, transformer 90–197 / 152–305,
stack_rnn 13–22 / 20–48, tape_rnn 23–41 / 51–94; evaluating lengths 1..500 costs 2–84 s per run
for the recurrent models and 36–277 s for the transformer. With pr_lstm 2,000 steps, rnn / lstm
/ stack_rnn 5,000, tape_rnn 3,000 and the transformer 800 (lr 3e-4),
``python benchmarks/step_costs.py --estimate cpu-full`` adds the grid up to ≈ 33,600
core-seconds = 4.7 hours on 2 cores; the same estimate for the ``cpu`` preset is 1,400
core-seconds against 1,716 measured (858 s × 2 workers), so expect ≈ 5.7 hours — inside the
6-hour budget. Measured: the 204 runs recorded 43,600 core-seconds (part of them shared the
VM with other jobs) — ≈ 6.1 hours on 2 cores, about 1 % over the budget.
pr_lstm gets fewer steps than the LSTM because each costs 4–6× more; at this width it
generalises on parity_check within 400–900 steps (the ``cpu`` preset's runs).

``cpu-ablations`` — the paper's Table 3 at the same budget: PR-LSTM with R = 0, 1, 2
refinements, PR-RNN with R = 0, 1, 2, and the parameter-matched PR-LSTM (H = 69, R = 1: 68,103
recurrent parameters against the H = 128 LSTM's 67,584, the rule that gives H = 137 for
H = 256), on the four regular tasks plus bucket_sort and missing_duplicate_string (the two
non-regular tasks the paper reports PR-LSTM solving), seeds 0, 1, 2; PR-RNN gets the RNN's 5,000
steps, PR-LSTM 2,000.
The R = 1 variant is pr_lstm's registry default (R = 1) given implicitly, so its configs are
identical, run id included, to cpu-full's pr_lstm runs: 16 of its 18 runs (all but seed 2 on
the two non-regular tasks) were copied from ``results/cpu-full/runs`` rather than trained again
(a re-run of one of them gave the same numbers; training on CPU is deterministic per seed).
Measured: the 110 trained runs recorded 12,700 core-seconds, ≈ 1.8 hours on 2 cores.

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
FULL_MODELS = ("pr_lstm", "rnn", "lstm", "transformer", "stack_rnn", "tape_rnn")
ALL_TASKS = ("even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation",
             "stack_manipulation", "reverse_string", "modular_arithmetic_brackets",
             "solve_equation", "duplicate_string", "missing_duplicate_string", "odds_first",
             "binary_addition", "binary_multiplication", "compute_sqrt", "bucket_sort")


@dataclass(frozen=True)
class Preset:
    """A named budget.

    Attributes:
        name: preset name, recorded in every run's config.
        run: RunConfig field values.
        hparams: model hyper-parameters, each applied only to models that accept the key.
        per_model: RunConfig fields (and an ``hparams`` dict) for specific models.
        per_task: RunConfig fields for specific tasks (applied after ``per_model``: a task's
            step budget is then the same for every model).
        tasks, models, seeds, lrs: the default sweep grid of ``prlstm sweep`` / ``run``.
        model_seeds, model_lrs: per-model seeds / learning rates of that grid (models not
            named use ``seeds`` / ``lrs``); ``--seeds`` / ``--lrs`` on the CLI override all.
        level_seeds: seeds for the tasks of one level (``"regular"``, ``"dcf"``, ``"cs"``),
            used where ``model_seeds`` names no seeds for the model.
        variants: ``(model, hparams)`` pairs that replace ``models`` in the grid (an ablation
            table: one model under several hyper-parameters, each its own report column).
        tune_lrs, tune_seeds: when set, ``prlstm sweep`` chooses each cell's lr from
            ``tune_lrs`` on validation with ``tune_seeds`` first, then trains ``seeds`` at
            that lr (:mod:`prlstm.experiments.tuned`); ``--lrs`` turns tuning off.
    """

    name: str
    run: dict[str, Any]
    hparams: dict[str, Any] = field(default_factory=dict)
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: tuple[str, ...] = REGULAR_TASKS
    models: tuple[str, ...] = MAIN_MODELS
    seeds: tuple[int, ...] = (0,)
    lrs: tuple[float, ...] = (1e-3,)
    model_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    model_lrs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    level_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)
    variants: tuple[tuple[str, dict[str, Any]], ...] = ()
    tune_lrs: tuple[float, ...] = ()
    tune_seeds: tuple[int, ...] = ()

    def seeds_for(self, model: str, level: str | None = None) -> tuple[int, ...]:
        """The grid's seeds for ``model`` (on a task of ``level``)."""
        if model in self.model_seeds:
            return self.model_seeds[model]
        return self.level_seeds.get(level or "", self.seeds)

    def lrs_for(self, model: str) -> tuple[float, ...]:
        """The grid's learning rates for ``model``."""
        return self.model_lrs.get(model, self.lrs)


def _cpu_run(steps: int, log_every: int, ckpt_every: int, val_every: int) -> dict[str, Any]:
    """The CPU presets' run settings: a final 10 % lr decay, 16 test sequences per length in
    one sub-batch, validation every ``val_every`` updates."""
    return {"steps": steps, "lr_decay_fraction": 0.1, "eval_per_length": 16,
            "eval_batch_size": 16, "log_every": log_every, "ckpt_every": ckpt_every,
            "val_every": val_every}


_SMALL_TRANSFORMER = {"embedding_dim": 16, "num_layers": 1, "num_heads": 2, "ff_size": 32}

FAIR_TASKS = ("parity_check", "cycle_navigation", "modular_arithmetic", "bucket_sort",
              "missing_duplicate_string")
#: Widths matched on parameter counts at V = 2, C = 2 (``prlstm models --match``; within 2 %
#: on every task of the grid): H = 128 PR-LSTM has 232,322 parameters, the H = 128 LSTM 67,842.
FAIR_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("pr_lstm", {"hidden_size": 128}),
    ("pr_lstm", {"hidden_size": 69}),  # the LSTM's count
    ("lstm", {"hidden_size": 128}),
    ("lstm", {"hidden_size": 239}),  # PR-LSTM's count, as every variant below
    ("rnn", {"hidden_size": 128}),
    ("rnn", {"hidden_size": 479}),
    ("mingru", {"hidden_size": 195}),
    ("linear_rnn", {"hidden_size": 169, "eigenvalues": "negative"}),
    ("deltanet", {"hidden_size": 168, "eigenvalues": "negative"}),
    ("mamba", {"hidden_size": 127}),
    ("mlstm", {"hidden_size": 128}),
)

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
        run=_cpu_run(steps=2000, log_every=25, ckpt_every=250, val_every=100),
        hparams={"hidden_size": 128},
        per_model={"lstm": {"steps": 3500}, "rnn": {"steps": 3500},
                   "transformer": {"steps": 1000}},
        tasks=("parity_check", "cycle_navigation"),
        seeds=(0, 1, 2),
        model_seeds={"transformer": (0,)},
        model_lrs={"transformer": (3e-4,)},
    ),
    "cpu-full": Preset(
        name="cpu-full",
        run=_cpu_run(steps=5000, log_every=50, ckpt_every=500, val_every=250),
        hparams={"hidden_size": 128},
        per_model={"pr_lstm": {"steps": 2000}, "tape_rnn": {"steps": 3000},
                   "transformer": {"steps": 800}},
        tasks=ALL_TASKS,
        models=FULL_MODELS,
        seeds=(0, 1),
        level_seeds={"regular": (0, 1, 2)},
        model_lrs={"transformer": (3e-4,)},
    ),
    "cpu-ablations": Preset(
        name="cpu-ablations",
        run=_cpu_run(steps=2000, log_every=50, ckpt_every=500, val_every=250),
        hparams={"hidden_size": 128},
        per_model={"pr_rnn": {"steps": 5000}},
        tasks=(*REGULAR_TASKS, "bucket_sort", "missing_duplicate_string"),
        seeds=(0, 1, 2),
        # R = 1 is pr_lstm's registry default, left implicit: those 18 runs have the same
        # identity (and run id) as cpu-full's pr_lstm runs on these tasks, which can be reused.
        variants=(("pr_lstm", {"refinements": 0}), ("pr_lstm", {}),
                  ("pr_lstm", {"refinements": 2}), ("pr_rnn", {"refinements": 0}),
                  ("pr_rnn", {"refinements": 1}), ("pr_rnn", {"refinements": 2}),
                  ("pr_lstm", {"hidden_size": 69, "refinements": 1})),
    ),
    "cpu-fair": Preset(
        name="cpu-fair",
        run=_cpu_run(steps=1000, log_every=25, ckpt_every=250, val_every=50),
        hparams={"hidden_size": 128},
        per_task={"bucket_sort": {"steps": 500}},
        tasks=FAIR_TASKS,
        variants=FAIR_VARIANTS,
        seeds=tuple(range(8)),
        tune_lrs=(3e-4, 1e-3, 3e-3),
        tune_seeds=(100,),
    ),
    "gpu": Preset(
        name="gpu",
        run={"steps": 100_000, "log_every": 200, "ckpt_every": 5000},
        hparams={"hidden_size": 256},
    ),
}


@dataclass(frozen=True)
class GridPoint:
    """One run of a sweep grid (before the preset's run settings are applied)."""

    task: str
    model: str
    hparams: dict[str, Any]
    seed: int
    lr: float


def grid(preset: Preset | None, tasks: list[str] | None = None,
         models_: list[str] | None = None, seeds: list[int] | None = None,
         lrs: list[float] | None = None) -> list[GridPoint]:
    """The sweep grid: tasks × models (or the preset's variants) × seeds × learning rates.

    Arguments given override the preset's; ``models_`` filters a preset's variants by model
    name. Without a preset, tasks and models are required and seeds/lrs default to 0 / 1e-3.
    """
    from prlstm import tasks as task_registry

    task_names = tasks or list(preset.tasks if preset else [])
    if preset is not None and preset.variants:
        pairs = [(m, dict(h)) for m, h in preset.variants if not models_ or m in models_]
        if not pairs:
            raise ValueError(f"preset {preset.name!r} has no variant of {models_}; its "
                             f"models are {sorted({m for m, _ in preset.variants})}")
    else:
        pairs = [(m, {}) for m in (models_ or list(preset.models if preset else []))]
    if not task_names or not pairs:
        raise ValueError("give --tasks and --models (or a --preset that defines them)")
    points = []
    for task in task_names:
        level = task_registry.get(task).level if task in task_registry.names() else None
        for model, hparams in pairs:
            model_seeds = seeds or list(preset.seeds_for(model, level) if preset else [0])
            model_lrs = lrs or list(preset.lrs_for(model) if preset else [1e-3])
            points += [GridPoint(task, model, hparams, s, lr)
                       for s in model_seeds for lr in model_lrs]
    return points


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
    """The subset of ``candidates`` whose keys ``model`` accepts (its default hparams; an
    unknown model accepts none, and fails later with its own error)."""
    try:
        known = models.default_hparams(model)
    except (ValueError, TypeError):
        known = {}
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
        values.update(chosen.per_task.get(task, {}))
    values["hparams"] = {**values["hparams"], **(hparams or {})}
    values["task_options"] = dict(task_options or {})
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown run settings: {', '.join(unknown)}")
    values.update({k: v for k, v in fields.items() if v is not None})
    return RunConfig(**values)
