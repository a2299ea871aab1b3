"""``RunConfig``: everything that defines one training + evaluation run, with a JSON round trip.

Defaults follow the protocol (docs/benchmark.md#training and
docs/benchmark.md#evaluation-and-score): Adam with a constant learning rate 1e-3, global-norm
clipping at 1.0, batch 128, a uniform curriculum over training lengths 1..N = 40, evaluation at
every length 1..M = 500 with 512 sequences per length in sub-batches of 64 drawn from a fixed
evaluation seed (1) that does not depend on the training seed. ``steps`` counts optimiser
updates (the reference code performs ``steps + 1``; this project does exactly ``steps``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from prlstm.naming import IMPORT_PATH_RE, NAME_RE

# Fields that only change how a run is carried out (where it runs, how often it logs,
# checkpoints or validates, which preset produced it), not what it computes: they are left out
# of the run id and may differ when a run is resumed. Validation reads the model in eval mode
# from its own seeded samples and draws nothing from the training streams, so the final weights
# are the same with it on or off.
OPERATIONAL_FIELDS = ("log_every", "ckpt_every", "device", "preset", "val_every",
                      "val_lengths", "val_per_length", "val_seed", "test")
# Identity fields added after runs were committed: left out of the identity (and the run id)
# while they hold their default, so every earlier run keeps its id.
LATER_FIELDS = ("lr_decay_fraction",)
# Model options of the PR ablations, named in the run id when a config sets them explicitly.
VARIANT_HPARAMS = ("merge", "refinements", "schedule")
# Upper bounds of the sizes, checked before anything is allocated (a typo such as
# ``--batch-size 1000000000000`` is refused with one line instead of failing in the allocator).
MAX_SIZES = {"steps": 10**9, "batch_size": 10**6, "train_length": 10**6, "eval_length": 10**6,
             "eval_per_length": 10**6, "eval_batch_size": 10**6, "val_per_length": 10**6}
MAX_WIDTH = 65_536  # largest hidden_size / embedding_dim given in hparams
WIDTH_HPARAMS = ("hidden_size", "embedding_dim")
#: The device strings a run accepts.
DEVICE_RE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


@dataclass(frozen=True)
class RunConfig:
    """One run: a model trained on a task with one seed and learning rate, then evaluated.

    Attributes:
        task: task name (``prlstm.tasks.names()``).
        model: model name (``prlstm.models.names()``).
        task_options: keyword options for ``tasks.get`` (e.g. a modulus).
        hparams: model hyper-parameters overriding ``models.HPARAMS[model]``.
        seed: training seed (model init, curriculum, batches, dropout).
        lr: Adam learning rate (constant, except for the final decay, see ``lr_decay_fraction``).
        steps: number of optimiser updates.
        lr_decay_fraction: ``f > 0`` decays the learning rate linearly over the last
            ``k = max(1, round(f * steps))`` updates (see :meth:`decay_steps`): update ``s``
            uses ``lr * min(1, (steps - s + 1) / k)``, so the last one uses ``lr / k``.
            ``0`` (the protocol's default) keeps it constant.
        batch_size: training batch size.
        max_grad_norm: global-norm gradient clipping threshold.
        train_length: N, the curriculum's maximum length (lengths 1..N).
        eval_length: M, the longest evaluated length (lengths 1..M).
        eval_per_length: test sequences per length.
        eval_batch_size: sub-batch size; accuracy(l) is the mean over sub-batches.
        eval_seed: seed of the fixed test set, identical for every model and training seed.
        log_every: a ``train_log.csv`` row every this many updates.
        ckpt_every: a checkpoint every this many updates (and on Ctrl-C, and at the end).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        preset: the budget preset the run came from (informational).
        val_every: every this many updates (and after the last), score a small fixed
            out-of-range validation slice and log it as ``val_score``; ``0`` turns it off.
            Validation never selects weights: the final weights are evaluated.
        val_lengths: the slice's lengths; empty picks 6 lengths spread evenly over
            ``train_length + 1 .. eval_length`` (see :meth:`validation_lengths`).
        val_per_length: validation sequences per length (one batch per length).
        val_seed: seed of the validation slice; its batches are derived under their own
            purpose key, so they never coincide with the test set's.
        test: score the final weights on the test set once training ends (``result.json``).
            Tuning runs set ``False``: their lr is chosen on validation and they never see
            the test set. Training is the same either way.
    """

    task: str
    model: str
    task_options: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    lr: float = 1e-3
    steps: int = 10_000
    batch_size: int = 128
    max_grad_norm: float = 1.0
    train_length: int = 40
    eval_length: int = 500
    eval_per_length: int = 512
    eval_batch_size: int = 64
    eval_seed: int = 1
    log_every: int = 100
    ckpt_every: int = 1000
    device: str = "auto"
    preset: str = "custom"
    lr_decay_fraction: float = 0.0
    val_every: int = 0
    val_lengths: list[int] = field(default_factory=list)
    val_per_length: int = 8
    val_seed: int = 2
    test: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "train_length", "eval_length", "eval_per_length",
                     "eval_batch_size", "log_every", "ckpt_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.val_lengths, tuple):
            object.__setattr__(self, "val_lengths", list(self.val_lengths))
        for name in ("val_per_length",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("seed", "eval_seed", "val_seed", "val_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr", "max_grad_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.test, bool):
            raise ValueError(f"test must be True or False, got {self.test!r}")
        self._check_limits()
        if self.eval_per_length % self.eval_batch_size:
            raise ValueError(f"eval_per_length ({self.eval_per_length}) must be a multiple of "
                             f"eval_batch_size ({self.eval_batch_size})")
        if isinstance(self.lr_decay_fraction, bool) or not (
                isinstance(self.lr_decay_fraction, (int, float))
                and 0.0 <= self.lr_decay_fraction <= 1.0):
            raise ValueError(f"lr_decay_fraction must be a number in [0, 1], got "
                             f"{self.lr_decay_fraction!r}")
        if not isinstance(self.val_lengths, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1
                for n in self.val_lengths):
            raise ValueError(f"val_lengths must be a list of positive integers, got "
                             f"{self.val_lengths!r}")
        if not isinstance(self.task_options, dict) or not isinstance(self.hparams, dict):
            raise ValueError("task_options and hparams must be dicts")
        if not isinstance(self.task, str) or not NAME_RE.fullmatch(self.task):
            raise ValueError(f"task name {self.task!r} is not a valid identifier")
        if not isinstance(self.model, str) or not (NAME_RE.fullmatch(self.model)
                                                   or IMPORT_PATH_RE.fullmatch(self.model)):
            raise ValueError(f"model name {self.model!r} is not a valid identifier or import "
                             f"path 'package.module:factory'")

    def _check_limits(self) -> None:
        """Finite lr, sizes within :data:`MAX_SIZES`, M >= N, a known device kind (run after
        the type checks of ``__post_init__``)."""
        if not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite positive number, got {self.lr!r}")
        for name, limit in MAX_SIZES.items():
            if getattr(self, name) > limit:
                raise ValueError(f"{name} must be at most {limit:,}, got {getattr(self, name):,}")
        too_long = [n for n in self.val_lengths if n > MAX_SIZES["eval_length"]]
        if too_long:
            raise ValueError(f"val_lengths must be at most {MAX_SIZES['eval_length']:,}, got "
                             f"{too_long[0]:,}")
        for name in WIDTH_HPARAMS:
            value = self.hparams.get(name) if isinstance(self.hparams, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_WIDTH:
                raise ValueError(f"hparams {name} must be at most {MAX_WIDTH:,}, got {value:,}")
        if self.eval_length < self.train_length:
            raise ValueError(f"eval_length (M = {self.eval_length}) must be at least "
                             f"train_length (N = {self.train_length}): the score is the "
                             "accuracy beyond the training lengths")
        if not isinstance(self.device, str) or not DEVICE_RE.fullmatch(self.device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"incomplete RunConfig: {err}") from err

    def to_json(self) -> str:
        """The config as a JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    def identity(self) -> dict[str, Any]:
        """The fields that determine the run's results (all but :data:`OPERATIONAL_FIELDS`;
        :data:`LATER_FIELDS` only when they differ from their defaults)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_FIELDS
                and not (k in LATER_FIELDS and v == defaults[k])}

    def decay_steps(self) -> int:
        """How many final updates the lr decays over (0: constant lr)."""
        if not self.lr_decay_fraction:
            return 0
        return max(1, round(self.lr_decay_fraction * self.steps))

    def lr_at(self, step: int) -> float:
        """The learning rate of update ``step`` (1-based); see ``lr_decay_fraction``."""
        k = self.decay_steps()
        return self.lr if k == 0 else self.lr * min(1.0, (self.steps - step + 1) / k)

    def validation_lengths(self) -> list[int]:
        """The validation slice's lengths (empty when validation is off).

        ``val_lengths`` if given, else 6 lengths spread evenly over ``N+1 .. M`` (fewer when
        that range is shorter), e.g. 41, 133, 225, 316, 408, 500 for N = 40, M = 500.
        """
        if not self.val_every:
            return []
        if self.val_lengths:
            return sorted(set(self.val_lengths))
        lo, hi = self.train_length + 1, self.eval_length
        if hi < lo:
            return []
        count = min(6, hi - lo + 1)
        if count == 1:
            return [lo]
        return sorted({round(lo + i * (hi - lo) / (count - 1)) for i in range(count)})

    def differences(self, other: RunConfig) -> list[str]:
        """Names of identity fields whose values differ between ``self`` and ``other``."""
        mine, theirs = self.identity(), other.identity()
        return [k for k in mine if _canonical(mine[k]) != _canonical(theirs[k])]

    def run_id(self) -> str:
        """A stable, readable directory name, e.g. ``parity_check/pr_lstm/s0-lr0.001-1a2b3c4d``.

        Ablation options given explicitly (:data:`VARIANT_HPARAMS`) are spelled out in front,
        e.g. ``parity_check/pr_lstm/merge=sum-refinements=0-s0-lr0.001-5e6f7a8b``.

        The trailing digest covers every identity field, so two configs share a directory only
        if they would compute the same thing.
        """
        digest = hashlib.sha256(_canonical(self.identity()).encode("utf-8")).hexdigest()[:8]
        tag = "".join(f"{k}={self.hparams[k]}-" for k in VARIANT_HPARAMS if k in self.hparams)
        model = self.model.replace(":", "+")  # an import path: one directory name
        return f"{self.task}/{model}/{tag}s{self.seed}-lr{self.lr:g}-{digest}"


def _canonical(value: Any) -> str:
    """Order-independent JSON text of a value (for comparisons and hashing)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
