"""Training loop for :class:`~prlstm.lm.models.CharLM`: tqdm, checkpoints, resume, val bpc.

Under ``torchrun --nproc-per-node N`` the same run trains data-parallel (DDP, ``gloo`` on CPU;
:mod:`prlstm.experiments.distributed`): ``batch`` is the global batch, every rank draws it from
the same data generator and keeps its own rows, and only rank 0 writes.

A run directory holds ``config.json`` (the :class:`LMConfig`), ``log.csv`` (the learning
curve), and the latest checkpoint: ``weights.safetensors`` + ``state.pt`` (optimizer, data
RNG) + ``checkpoint.json`` (written last, atomically; so a kill leaves a usable pair).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_model, save_model
from tqdm import tqdm

from prlstm.experiments.distributed import DataParallel
from prlstm.experiments.io import (
    atomic_write_file,
    ensure_writable_dir,
    read_csv,
    read_json,
    write_csv,
    write_json,
)
from prlstm.lm.data import eval_windows, expand_files, load_corpus, sample_batch
from prlstm.lm.models import MODELS, CharLM, num_params

# Default sizes: about 0.3M parameters each.
SIZES: dict[str, dict[str, int]] = {
    "pr_lstm": {"emb": 64, "hidden": 128, "layers": 1},
    "lstm": {"emb": 64, "hidden": 224, "layers": 1},
    "transformer": {"emb": 96, "hidden": 0, "layers": 2},
}
LOG_HEADER = ("step", "train_bpc", "val_bpc", "cpu_s", "wall_s")


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
        for name in ("seq_len", "batch", "steps", "eval_every", "eval_windows", "ckpt_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

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
    atomic_write_file(run / "weights.safetensors", lambda n: save_model(model, n))
    state = {"optimizer": opt.state_dict(), "data_rng": gen.get_state()}
    atomic_write_file(run / "state.pt", lambda n: torch.save(state, n))
    write_json(run / "checkpoint.json", {"step": step, "config": asdict(cfg), **clock})


def load_run(run_dir: str | Path) -> tuple[LMConfig, CharLM, int]:
    """The config, the model with its latest weights, and the step it was saved at."""
    run = Path(run_dir)
    if not (run / "checkpoint.json").is_file():
        raise FileNotFoundError(f"no checkpoint in {run} (checkpoint.json not found)")
    meta = read_json(run / "checkpoint.json")
    cfg = LMConfig(**meta["config"])
    model = cfg.build()
    load_model(model, str(run / "weights.safetensors"))
    return cfg, model, int(meta["step"])


def train_lm(cfg: LMConfig, run_dir: str | Path, progress: bool = True,
             until: int | None = None) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary so far (also in ``summary.json``).

    ``until``: stop (with a checkpoint) once that many steps are done, e.g. to time-box a
    session; calling again resumes exactly (same batches, same optimizer state).
    """
    run = ensure_writable_dir(run_dir)
    files = expand_files(cfg.files)
    corpus = load_corpus(files, cfg.val_fraction, cfg.seed)
    vx, vy = eval_windows(corpus.val, cfg.eval_windows, cfg.seq_len)
    model = cfg.build()
    ddp = DataParallel.from_env(cfg.batch, torch.device("cpu"))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, clock, log = 0, {"cpu_s": 0.0, "wall_s": 0.0}, []
    if (run / "checkpoint.json").is_file():
        meta = read_json(run / "checkpoint.json")
        if meta["config"] != asdict(cfg):
            diff = {k: (meta["config"].get(k), v) for k, v in asdict(cfg).items()
                    if meta["config"].get(k) != v}
            raise ValueError(f"{run} holds a run with another configuration "
                             f"(checkpoint vs requested: {diff}); use another --out")
        load_model(model, str(run / "weights.safetensors"))
        state = torch.load(run / "state.pt", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["data_rng"])
        step = int(meta["step"])
        clock = {"cpu_s": meta["cpu_s"], "wall_s": meta["wall_s"]}
        log = [r for r in read_csv(run / "log.csv") if int(r["step"]) <= step]
    if ddp.is_writer:
        write_json(run / "config.json", asdict(cfg))
    net = ddp.wrap(model)  # after loading: DDP broadcasts rank 0's parameters
    progress = progress and ddp.is_writer
    model.train()
    t_cpu, t_wall = time.process_time() - clock["cpu_s"], time.time() - clock["wall_s"]
    running = []
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.model, disable=not progress,
               dynamic_ncols=True)
    stop = cfg.steps if until is None else min(cfg.steps, until)
    while step < stop:
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        x, y = ddp.rows(*sample_batch(corpus.train, cfg.batch, cfg.seq_len, gen))
        logits = net(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running.append(loss.detach() / math.log(2))
        bar.update(1)
        if step % cfg.eval_every == 0 or step == stop:
            clock = {"cpu_s": time.process_time() - t_cpu, "wall_s": time.time() - t_wall}
            v = val_bpc(model, vx, vy)
            train_bpc = torch.stack(running).mean()
            ddp.average_(train_bpc)  # the global batch's mean over the ranks' shards
            log.append({"step": step, "train_bpc": train_bpc.item(), "val_bpc": v, **clock})
            running = []
            bar.set_postfix(val_bpc=f"{v:.3f}")
            if ddp.is_writer:
                write_csv(run / "log.csv", LOG_HEADER, ([r[k] for k in LOG_HEADER] for r in log))
        if (step % cfg.ckpt_every == 0 or step == stop) and ddp.is_writer:
            clock = {"cpu_s": time.process_time() - t_cpu, "wall_s": time.time() - t_wall}
            _save(run, cfg, step, model, opt, gen, clock)
    bar.close()
    if not log:
        raise ValueError(f"{run}: nothing trained (until={until} <= step {step})")
    last = log[-1]
    summary = {"model": cfg.model, "params": num_params(model), "steps": step,
               "finished": step == cfg.steps,
               "val_bpc": float(last["val_bpc"]), "cpu_s": float(last["cpu_s"]),
               "wall_s": float(last["wall_s"]), "train_files": len(corpus.train_files),
               "val_files": len(corpus.val_files), "train_bytes": corpus.train.numel(),
               "val_bytes": corpus.val.numel(), "val_chars_scored": vy.numel(),
               "torch_threads": torch.get_num_threads(), "config": asdict(cfg)}
    if ddp.is_writer:
        write_json(run / "summary.json", summary)
    ddp.sync()
    return summary
