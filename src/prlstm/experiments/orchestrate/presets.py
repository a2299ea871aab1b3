"""Budget presets: the protocol at several sizes (docs/benchmark.md#presets).

Each preset keeps the protocol's shape and sets only the fields that cost time; any field can
be overridden (CLI flags, :func:`make_config` keywords). ``smoke`` is for tests (seconds),
``cpu`` the main job on 2 cores, ``cpu-full`` the whole table and ``cpu-ablations`` Table 3 at a
CPU budget, ``cpu-fair`` the capacity-matched comparison with tuned learning rates, ``gpu`` the
full protocol at an adjustable step count. Why each budget is what it is, with the measurements
behind it, is in docs/benchmark.md#presets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from prlstm import models
from prlstm.experiments.run.config import RunConfig

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
            that lr (:mod:`prlstm.experiments.orchestrate.tuned`); ``--lrs`` turns tuning off.
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


def _cpu_preset(name: str, steps: int, every: tuple[int, int, int], **grid: Any) -> Preset:
    """A CPU preset: H = 128, ``steps`` updates with a final 10 % lr decay, a log row, a
    checkpoint and validation every ``every = (log, ckpt, val)`` updates, 16 test sequences per
    length in one sub-batch; ``grid`` holds its other :class:`Preset` fields."""
    log_every, ckpt_every, val_every = every
    run = {"steps": steps, "lr_decay_fraction": 0.1, "eval_per_length": 16,
           "eval_batch_size": 16, "log_every": log_every, "ckpt_every": ckpt_every,
           "val_every": val_every}
    return Preset(name=name, run=run, hparams={"hidden_size": 128}, **grid)


_SMALL_TRANSFORMER = {"embedding_dim": 16, "num_layers": 1, "num_heads": 2, "ff_size": 32}

FAIR_TASKS = ("parity_check", "cycle_navigation", "modular_arithmetic", "bucket_sort",
              "missing_duplicate_string")
#: The cpu-fair variants: each model at H = 128 and at a parameter-matched width
#: (docs/benchmark.md#the-cpu-fair-widths).
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
    "cpu": _cpu_preset(
        "cpu", 2000, (25, 250, 100),
        per_model={"lstm": {"steps": 3500}, "rnn": {"steps": 3500},
                   "transformer": {"steps": 1000}},
        tasks=("parity_check", "cycle_navigation"),
        seeds=(0, 1, 2),
        model_seeds={"transformer": (0,)},
        model_lrs={"transformer": (3e-4,)},
    ),
    "cpu-full": _cpu_preset(
        "cpu-full", 5000, (50, 500, 250),
        per_model={"pr_lstm": {"steps": 2000}, "tape_rnn": {"steps": 3000},
                   "transformer": {"steps": 800}},
        tasks=ALL_TASKS,
        models=FULL_MODELS,
        seeds=(0, 1),
        level_seeds={"regular": (0, 1, 2)},
        model_lrs={"transformer": (3e-4,)},
    ),
    "cpu-ablations": _cpu_preset(
        "cpu-ablations", 2000, (50, 500, 250),
        per_model={"pr_rnn": {"steps": 5000}},
        tasks=(*REGULAR_TASKS, "bucket_sort", "missing_duplicate_string"),
        seeds=(0, 1, 2),
        # R = 1 left implicit (pr_lstm's default): the same run ids as cpu-full's pr_lstm runs
        variants=(("pr_lstm", {"refinements": 0}), ("pr_lstm", {}),
                  ("pr_lstm", {"refinements": 2}), ("pr_rnn", {"refinements": 0}),
                  ("pr_rnn", {"refinements": 1}), ("pr_rnn", {"refinements": 2}),
                  ("pr_lstm", {"hidden_size": 69, "refinements": 1})),
    ),
    "cpu-fair": _cpu_preset(
        "cpu-fair", 1000, (25, 250, 50),
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
    name, and a model it names that the preset has no variant of (your own, say) joins the
    grid as one variant at its own defaults, under the preset's budget. Without a preset,
    tasks and models are required and seeds/lrs default to 0 / 1e-3.
    """
    from prlstm import tasks as task_registry

    task_names = tasks or list(preset.tasks if preset else [])
    if preset is not None and preset.variants:
        named = list(dict.fromkeys(models_ or []))
        pairs = [(m, dict(h)) for m, h in preset.variants if not named or m in named]
        known = {m for m, _ in preset.variants}
        pairs += [(m, {}) for m in named if m not in known]
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
