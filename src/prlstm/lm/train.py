"""Training loop for :class:`~prlstm.lm.models.CharLM`: tqdm, checkpoints, resume, val bpc.

Under ``torchrun --nproc-per-node N`` the same run trains data-parallel (DDP, ``gloo`` on CPU;
:mod:`prlstm.experiments.distributed`): ``batch`` is the global batch, every rank draws it from
the same data generator and keeps its own rows, and only rank 0 writes.

A run directory holds ``config.json`` (the :class:`LMConfig`), ``log.csv`` (the learning
curve), and the latest checkpoint in the benchmark's crash-safe layout
(:func:`prlstm.experiments.checkpoint.write_checkpoint_set`): ``ckpt-<step>.safetensors``
(weights) and ``ckpt-<step>.pt`` (optimizer, data RNG) written as new files, then
``checkpoint.json`` (step, config, clocks, checksums, digest) replaced by rename, so a kill at
any moment leaves a manifest pointing at a complete pair and a resume ends with the weights of
an uninterrupted run. One trainer per run directory (``.train.lock``); a loss that becomes NaN
or infinite stops training with an error instead of checkpointing broken weights.
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
from tqdm import tqdm

from prlstm.experiments.checkpoint import (
    CheckpointError,
    has_checkpoint,
    load_checkpoint_files,
    read_manifest,
    write_checkpoint_set,
)
from prlstm.experiments.distributed import DataParallel
from prlstm.experiments.io import ensure_writable_dir, read_csv, write_csv, write_json
from prlstm.experiments.lock import lock_run_dir
from prlstm.lm.data import eval_windows, expand_files, load_corpus, sample_batch
from prlstm.lm.models import MODELS, CharLM, num_params

# Default sizes: about 0.3M parameters each.
SIZES: dict[str, dict[str, int]] = {
    "pr_lstm": {"emb": 64, "hidden": 128, "layers": 1},
    "lstm": {"emb": 64, "hidden": 224, "layers": 1},
    "transformer": {"emb": 96, "hidden": 0, "layers": 2},
}
LOG_HEADER = ("step", "train_bpc", "val_bpc", "cpu_s", "wall_s")
# Accepted range of each integer field (checked before anything is allocated; 0 for emb,
# hidden, layers: the model's default size).
LIMITS: dict[str, tuple[int, int]] = {
    "seq_len": (1, 10**6), "batch": (1, 10**6), "steps": (1, 10**9), "warmup": (0, 10**9),
    "emb": (0, 65_536), "hidden": (0, 65_536), "layers": (0, 1_024), "eval_every": (1, 10**9),
    "eval_windows": (1, 10**6), "ckpt_every": (1, 10**9), "seed": (0, 2**63 - 1)}


@dataclass(frozen=True)
class LMConfig:
    """Everything that defines a run (a resumed run must match it)."""

    model: str = "pr_lstm"
    files: list[str] = field(default_factory=lambda: ["stdlib"])
    val_fraction: float = 0.1
    seq_len: int = 128
    batch: int = 32
    steps: int = 2000
    lr: float = 2e-3
    warmup: int = 100
    emb: int = 0  # 0: the model's default size (SIZES)
    hidden: int = 0
    layers: int = 0
    eval_every: int = 100
    eval_windows: int = 64
    ckpt_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an int in [{low}, {high:,}], got {value!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) \
                or not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.files, list) or not all(isinstance(f, str) for f in self.files):
            raise ValueError(f"files must be a list of strings, got {self.files!r}")

    def sizes(self) -> dict[str, int]:
        s = dict(SIZES[self.model])
        for k in ("emb", "hidden", "layers"):
            if getattr(self, k):
                s[k] = getattr(self, k)
        return s

    def build(self) -> CharLM:
        torch.manual_seed(self.seed)
        return CharLM(self.model, max_len=self.seq_len, **self.sizes())


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


def _save(run: Path, cfg: LMConfig, step: int, model: CharLM, opt: torch.optim.Optimizer,
          gen: torch.Generator, clock: dict[str, float]) -> None:
    """Write the checkpoint of ``step`` (new files, then the manifest; see the module doc)."""
    state = {"optimizer": opt.state_dict(), "data_rng": gen.get_state()}
    write_checkpoint_set(run, step, model, state, asdict(cfg), clock)


def _saved_config(data: Any, run: Path) -> LMConfig:
    """The :class:`LMConfig` a checkpoint manifest holds."""
    try:
        return LMConfig(**data)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint in {run} has an invalid LM config: {err}") from err


def load_run(run_dir: str | Path) -> tuple[LMConfig, CharLM, int]:
    """The config, the model with its latest weights, and the step it was saved at."""
    run = Path(run_dir)
    if not has_checkpoint(run):
        raise FileNotFoundError(f"no checkpoint in {run} (checkpoint.json not found)")
    manifest = read_manifest(run)
    cfg = _saved_config(manifest["config"], run)
    model = cfg.build()
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
        self.model = cfg.build()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step, self.saved = 0, 0
        self.clock = {"cpu_s": 0.0, "wall_s": 0.0}
        self.log: list[dict[str, Any]] = []
        if has_checkpoint(run):
            self.restore()

    def restore(self) -> None:
        """Continue from the run's checkpoint, which must hold this configuration."""
        manifest = read_manifest(self.run)
        saved, wanted = manifest["config"], asdict(self.cfg)
        if saved != wanted:
            diff = {k: (saved.get(k), v) for k, v in wanted.items() if saved.get(k) != v}
            raise ValueError(f"{self.run} holds a run with another configuration "
                             f"(checkpoint vs requested: {diff}); use another --out")
        payload = load_checkpoint_files(self.run, manifest, self.model)
        try:
            self.opt.load_state_dict(payload["optimizer"])
            self.gen.set_state(payload["data_rng"])
            self.clock = {k: float(manifest["extra"][k]) for k in ("cpu_s", "wall_s")}
        except Exception as err:  # a state of another shape: an unusable checkpoint
            raise CheckpointError(f"checkpoint in {self.run} cannot be loaded into this run: "
                                  f"{type(err).__name__}: {err}") from err
        self.step = self.saved = manifest["step"]
        self.log = _logged_until(self.run, self.step)

    def diverged(self) -> ValueError:
        """The error that stops a run whose loss became NaN or infinite."""
        kept = (f"the checkpoint of step {self.saved} is kept" if self.saved
                else "no checkpoint was written")
        return ValueError(f"training diverged by step {self.step}: the loss became NaN or "
                          f"infinite (lr {self.cfg.lr:g}); {kept} in {self.run}; lower --lr "
                          "and train again")

    def fit(self, stop: int, progress: bool) -> None:
        """Train until step ``stop``: log every ``eval_every``, checkpoint every
        ``ckpt_every`` steps and at ``stop``."""
        cfg, model, ddp = self.cfg, self.model, self.ddp
        net = ddp.wrap(model)  # after loading: DDP broadcasts rank 0's parameters
        model.train()
        t_cpu = time.process_time() - self.clock["cpu_s"]
        t_wall = time.time() - self.clock["wall_s"]
        running: list[torch.Tensor] = []
        bar = tqdm(total=cfg.steps, initial=self.step, desc=cfg.model,
                   disable=not (progress and ddp.is_writer), dynamic_ncols=True)
        while self.step < stop:
            for g in self.opt.param_groups:
                g["lr"] = _lr(cfg, self.step)
            x, y = ddp.rows(*sample_batch(self.corpus.train, cfg.batch, cfg.seq_len, self.gen))
            logits = net(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            self.opt.step()
            self.step += 1
            running.append(loss.detach() / math.log(2))
            bar.update(1)
            if self.step % cfg.eval_every == 0 or self.step == stop:
                self.clock = {"cpu_s": time.process_time() - t_cpu, "wall_s": time.time() - t_wall}
                self.evaluate(running, bar)
                running = []
            if (self.step % cfg.ckpt_every == 0 or self.step == stop) and ddp.is_writer:
                if not bool(torch.isfinite(loss)):
                    raise self.diverged()
                self.clock = {"cpu_s": time.process_time() - t_cpu, "wall_s": time.time() - t_wall}
                _save(self.run, cfg, self.step, model, self.opt, self.gen, self.clock)
                self.saved = self.step
        bar.close()

    def evaluate(self, running: list[torch.Tensor], bar: tqdm) -> None:
        """Score the validation windows and append (and write) the log row of this step."""
        v = val_bpc(self.model, self.vx, self.vy)
        train_bpc = torch.stack(running).mean()
        self.ddp.average_(train_bpc)  # the global batch's mean over the ranks' shards
        if not math.isfinite(train_bpc.item()):
            raise self.diverged()
        self.log.append({"step": self.step, "train_bpc": train_bpc.item(), "val_bpc": v,
                         **self.clock})
        bar.set_postfix(val_bpc=f"{v:.3f}")
        if self.ddp.is_writer:
            write_csv(self.run / "log.csv", LOG_HEADER,
                      ([r[k] for k in LOG_HEADER] for r in self.log))

    def summary(self, until: int | None) -> dict[str, Any]:
        """The run's summary so far (the last log row's numbers, the data, the config)."""
        if not self.log:
            raise ValueError(f"{self.run}: nothing trained (until={until} <= step {self.step})")
        last, corpus = self.log[-1], self.corpus
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
    ddp = DataParallel.from_env(cfg.batch, torch.device("cpu"))
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
