"""Training loop for :class:`~prlstm.lm.models.CharLM`: tqdm, checkpoints, resume, val bpc.

Under ``torchrun --nproc-per-node N`` the same run trains data-parallel (DDP, ``gloo`` on CPU;
:mod:`prlstm.experiments.run.distributed`): ``batch_size`` is the global batch, every rank draws it
from the same data generator and keeps its own rows, and only rank 0 writes.

The update step and the loop are the benchmark's (:mod:`prlstm.experiments.run.loop`): AdamW,
global-norm clipping at 1.0, a log row with the validation bpc every ``val_every`` steps, a
checkpoint every ``ckpt_every`` steps and at the end, and on Ctrl-C a checkpoint of the current
step. A run directory holds ``config.json`` (the :class:`LMConfig`), ``log.csv`` (the learning
curve), and the latest checkpoint in the benchmark's crash-safe format
(:func:`prlstm.experiments.run.checkpoint.save_training_state`): ``ckpt-<step>.safetensors``
(weights) and ``ckpt-<step>.pt`` (optimizer, data RNG) written as new files, then
``checkpoint.json`` (step, config, clocks, checksums, digest) replaced by rename, so a kill at
any moment leaves a manifest pointing at a complete pair and a resume ends with the weights of
an uninterrupted run. One trainer per run directory (``.train.lock``); a loss that becomes NaN
or infinite stops training with an error instead of checkpointing broken weights.

:class:`LMConfig` uses the names the benchmark's ``RunConfig`` and :class:`CharLMConfig` use
(``batch_size``, ``val_every``, ``embedding_size``, ``hidden_size``, ``num_layers``). Run
directories written before (``batch``, ``eval_every``, ``emb``, ``hidden``, ``layers`` in
``config.json`` and the manifest) load and resume unchanged: saved configs are read through
:func:`~prlstm.lm.models.canonical_names`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from prlstm.experiments.run.checkpoint import (
    CheckpointError,
    has_checkpoint,
    load_checkpoint_files,
    load_training_state,
    read_manifest,
    save_training_state,
)
from prlstm.experiments.run.distributed import DataParallel
from prlstm.experiments.run.io import ensure_writable_dir, read_csv, write_csv, write_json
from prlstm.experiments.run.lock import lock_run_dir
from prlstm.experiments.run.loop import Cadence, diverged, optimizer_update, run_loop
from prlstm.lm.data import eval_windows, expand_files, load_corpus, sample_batch
from prlstm.lm.models import CharLM, CharLMConfig, canonical_names, num_params

LOG_HEADER = ("step", "train_bpc", "val_bpc", "cpu_s", "wall_s")
# Accepted range of each integer field (checked before anything is allocated; 0 for the
# sizes: the model's default, prlstm.lm.models.DEFAULT_SIZES).
LIMITS: dict[str, tuple[int, int]] = {
    "seq_len": (1, 10**6), "batch_size": (1, 10**6), "steps": (1, 10**9), "warmup": (0, 10**9),
    "embedding_size": (0, 65_536), "hidden_size": (0, 65_536), "num_layers": (0, 1_024),
    "val_every": (1, 10**9), "eval_windows": (1, 10**6), "ckpt_every": (1, 10**9),
    "seed": (0, 2**63 - 1)}


@dataclass(frozen=True)
class LMConfig:
    """Everything that defines a run (a resumed run must match it).

    ``embedding_size``, ``hidden_size``, ``num_layers``: 0 takes the model's default size
    (:data:`~prlstm.lm.models.DEFAULT_SIZES`); :meth:`model_config` is the model they give.
    """

    model: str = "pr_lstm"
    files: list[str] = field(default_factory=lambda: ["stdlib"])
    val_fraction: float = 0.1
    seq_len: int = 128
    batch_size: int = 32  # the global batch (sequences per update)
    steps: int = 2000
    lr: float = 2e-3
    warmup: int = 100
    embedding_size: int = 0  # 0: the model's default size
    hidden_size: int = 0
    num_layers: int = 0
    val_every: int = 100  # a log row with the validation bpc every this many steps
    eval_windows: int = 64
    ckpt_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an int in [{low}, {high:,}], got {value!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) \
                or not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.files, list) or not all(isinstance(f, str) for f in self.files):
            raise ValueError(f"files must be a list of strings, got {self.files!r}")
        self.model_config()  # the model's own checks (a known model, its sizes), allocating nothing

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LMConfig:
        """The config a run directory saved, under the current or the older field names."""
        return cls(**canonical_names(data))

    def model_config(self) -> CharLMConfig:
        """The model this run trains: its default sizes, overridden by the sizes given."""
        return CharLMConfig.for_model(self.model, embedding_size=self.embedding_size,
                                      hidden_size=self.hidden_size, num_layers=self.num_layers,
                                      max_len=self.seq_len)


def new_model(cfg: LMConfig) -> CharLM:
    """``cfg``'s model with its initial weights, drawn after ``torch.manual_seed(cfg.seed)``."""
    torch.manual_seed(cfg.seed)
    return CharLM(cfg.model_config())


def _lr(cfg: LMConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 10 %."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@torch.no_grad()
def val_bpc(model: CharLM, x: torch.Tensor, y: torch.Tensor, chunk: int = 16) -> float:
    """Mean bits per character (byte) over the fixed validation windows."""
    model.eval()
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        logits = model(x[i : i + chunk])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                 y[i : i + chunk].reshape(-1), reduction="sum").item()
    model.train()
    return total / y.numel() / math.log(2)


def _saved_config(data: Any, run: Path) -> LMConfig:
    """The :class:`LMConfig` a checkpoint manifest holds (older field names included)."""
    try:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        if len(canonical_names(data)) != len(data):
            raise ValueError(f"a field is given under both its older and its current name: "
                             f"{sorted(data)}")
        return LMConfig.from_dict(data)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint in {run} has an invalid LM config: {err}") from err


def load_run(run_dir: str | Path) -> tuple[LMConfig, CharLM, int]:
    """The config, the model with its latest weights, and the step it was saved at."""
    run = Path(run_dir)
    if not has_checkpoint(run):
        raise FileNotFoundError(f"no checkpoint in {run} (checkpoint.json not found)")
    manifest = read_manifest(run)
    cfg = _saved_config(manifest["config"], run)
    model = new_model(cfg)
    load_checkpoint_files(run, manifest, model)
    return cfg, model, manifest["step"]


def _logged_until(run: Path, step: int) -> list[dict[str, Any]]:
    """The rows of ``log.csv`` up to ``step`` (rows without a whole step number are dropped)."""
    path = run / "log.csv"
    if not path.is_file():
        return []
    rows = []
    for row in read_csv(path):
        try:
            at = float(row.get("step") or "nan")
        except ValueError:
            continue
        if math.isfinite(at) and at == int(at) and 0 < at <= step:
            rows.append(row)
    return rows


class _Trainer:
    """One :func:`train_lm` call: the data, the model, its optimizer and data generator, and
    the progress restored from the run's checkpoint (if any)."""

    def __init__(self, cfg: LMConfig, run: Path, ddp: DataParallel) -> None:
        self.cfg, self.run, self.ddp = cfg, run, ddp
        self.corpus = load_corpus(expand_files(cfg.files), cfg.val_fraction, cfg.seed)
        self.vx, self.vy = eval_windows(self.corpus.val, cfg.eval_windows, cfg.seq_len)
        self.model = new_model(cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step, self.saved = 0, 0
        self.clock = {"cpu_s": 0.0, "wall_s": 0.0}
        self.log_rows: list[dict[str, Any]] = []
        # the loop's state: the wrapped model, the clocks' origins, the last update's loss and
        # the losses (in bits) since the last log row
        self.net: torch.nn.Module = self.model
        self.t_cpu, self.t_wall = 0.0, 0.0
        self.loss = torch.zeros(())
        self.running: list[torch.Tensor] = []
        if has_checkpoint(run):
            self.restore()

    def restore(self) -> None:
        """Continue from the run's checkpoint, which must hold this configuration (saved under
        the current or the older field names)."""
        manifest = read_manifest(self.run)
        saved, wanted = canonical_names(manifest["config"]), asdict(self.cfg)
        if saved != wanted:
            diff = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
            raise ValueError(f"{self.run} holds a run with another configuration "
                             f"(checkpoint vs requested: {diff}); use another --out")
        payload = load_training_state(self.run, manifest, self.model, self.opt)
        try:
            self.gen.set_state(payload["data_rng"])
            self.clock = {k: float(manifest["extra"][k]) for k in ("cpu_s", "wall_s")}
        except Exception as err:  # a state of another shape: an unusable checkpoint
            raise CheckpointError(f"checkpoint in {self.run} cannot be loaded into this run: "
                                  f"{type(err).__name__}: {err}") from err
        self.step = self.saved = manifest["step"]
        self.log_rows = _logged_until(self.run, self.step)

    def diverged(self) -> ValueError:
        """The error that stops a run whose loss became NaN or infinite."""
        return diverged(f"by step {self.step}", "loss", self.cfg.lr, self.saved, self.run)

    def fit(self, stop: int, progress: bool) -> None:
        """Train until step ``stop``: log every ``val_every``, checkpoint every
        ``ckpt_every`` steps and at ``stop``."""
        self.net = self.ddp.wrap(self.model)  # after loading: DDP broadcasts rank 0's parameters
        self.model.train()
        self.t_cpu = time.process_time() - self.clock["cpu_s"]
        self.t_wall = time.time() - self.clock["wall_s"]
        self.running = []
        cadence = Cadence(self.cfg.val_every, self.cfg.ckpt_every, val_every=self.cfg.val_every)
        run_loop(self, cadence, first=self.step + 1, last=stop, total=self.cfg.steps,
                 desc=self.cfg.model, show=progress and self.ddp.is_writer, run_dir=self.run)

    def update(self, step: int) -> None:
        """One update (the ``step``-th) on the next batch of the data generator."""
        cfg = self.cfg
        batch = sample_batch(self.corpus.train, cfg.batch_size, cfg.seq_len, self.gen)
        x, y = self.ddp.rows(*batch)
        logits = self.net(x)
        self.loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer_update(self.opt, self.model.parameters(), self.loss, lr=_lr(cfg, step - 1),
                         max_grad_norm=1.0)
        self.step = step
        self.running.append(self.loss.detach() / math.log(2))

    def tick(self, step: int) -> None:
        """Read the training clocks (CPU and wall seconds, earlier sessions included)."""
        self.clock = {"cpu_s": time.process_time() - self.t_cpu,
                      "wall_s": time.time() - self.t_wall}

    def log(self, step: int, validate: bool) -> dict[str, str]:
        """Score the validation windows and append (and write) the log row of this step."""
        v = val_bpc(self.model, self.vx, self.vy)
        train_bpc = torch.stack(self.running).mean()
        self.running = []
        self.ddp.average_(train_bpc)  # the global batch's mean over the ranks' shards
        if not math.isfinite(train_bpc.item()):
            raise self.diverged()
        self.log_rows.append({"step": step, "train_bpc": train_bpc.item(), "val_bpc": v,
                              **self.clock})
        if self.ddp.is_writer:
            write_csv(self.run / "log.csv", LOG_HEADER,
                      ([r[k] for k in LOG_HEADER] for r in self.log_rows))
        return {"val_bpc": f"{v:.3f}"}

    def checkpoint(self, step: int) -> None:
        """Write the checkpoint of ``step`` (rank 0; new files, then the manifest)."""
        if not self.ddp.is_writer:
            return
        if not bool(torch.isfinite(self.loss)):
            raise self.diverged()
        self.tick(step)  # the clocks saved include this step's validation
        save_training_state(self.run, step, self.model, self.opt, asdict(self.cfg), self.clock,
                            data_rng=self.gen.get_state())
        self.saved = step

    def summary(self, until: int | None) -> dict[str, Any]:
        """The run's summary so far (the last log row's numbers, the data, the config)."""
        if not self.log_rows:
            raise ValueError(f"{self.run}: nothing trained (until={until} <= step {self.step})")
        last, corpus = self.log_rows[-1], self.corpus
        return {"model": self.cfg.model, "params": num_params(self.model), "steps": self.step,
                "finished": self.step == self.cfg.steps,
                "val_bpc": float(last["val_bpc"]), "cpu_s": float(last["cpu_s"]),
                "wall_s": float(last["wall_s"]), "train_files": len(corpus.train_files),
                "val_files": len(corpus.val_files), "train_bytes": corpus.train.numel(),
                "val_bytes": corpus.val.numel(), "val_chars_scored": self.vy.numel(),
                "torch_threads": torch.get_num_threads(), "config": asdict(self.cfg)}


def train_lm(cfg: LMConfig, run_dir: str | Path, progress: bool = True,
             until: int | None = None) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary so far (also in ``summary.json``).

    ``until``: stop (with a checkpoint) once that many steps are done, e.g. to time-box a
    process; calling again resumes exactly (same batches, same optimizer state).

    Raises:
        DirectoryLocked: another process is training in ``run_dir``.
        ValueError: ``run_dir`` holds another configuration's run, or the loss became NaN or
            infinite (no checkpoint of such weights is written).
    """
    run = ensure_writable_dir(run_dir)
    ddp = DataParallel.from_env(cfg.batch_size, torch.device("cpu"))
    # one trainer per run directory; under torchrun only rank 0 writes, so only it locks
    with lock_run_dir(run) if ddp.is_writer else contextlib.nullcontext():
        trainer = _Trainer(cfg, run, ddp)
        if ddp.is_writer:
            write_json(run / "config.json", asdict(cfg))
        trainer.fit(cfg.steps if until is None else min(cfg.steps, until), progress)
        summary = trainer.summary(until)
        if ddp.is_writer:
            write_json(run / "summary.json", summary)
    ddp.sync()
    return summary
