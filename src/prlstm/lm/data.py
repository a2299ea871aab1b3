"""Byte-level text corpus with a train/validation split by file, and seeded batch samplers."""

from __future__ import annotations

import glob
import os
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

VOCAB = 256  # bytes: any file is valid input, no vocabulary to store


def stdlib_files() -> list[str]:
    """The Python standard library's top-level ``*.py`` files (on every Python install)."""
    root = sysconfig.get_paths()["stdlib"]
    return sorted(glob.glob(os.path.join(root, "*.py")))


def expand_files(patterns: list[str] | None) -> list[str]:
    """Files named by ``patterns`` (paths, globs, or directories: their files recursively);
    ``None`` or ``["stdlib"]`` means :func:`stdlib_files`."""
    if not patterns or patterns == ["stdlib"]:
        files = stdlib_files()
    else:
        files = []
        for pat in patterns:
            if os.path.isdir(pat):
                files += [str(p) for p in Path(pat).rglob("*") if p.is_file()]
            else:
                hits = glob.glob(pat, recursive=True)
                if not hits:
                    raise FileNotFoundError(f"--files: no file matches {pat!r}")
                files += [h for h in hits if os.path.isfile(h)]
        files = sorted(set(files))
    if len(files) < 2:
        raise ValueError(f"the corpus needs at least 2 files (one for validation), got "
                         f"{len(files)}")
    return files


@dataclass(frozen=True)
class Corpus:
    """Concatenated bytes of the training files and of the validation files."""

    train: Tensor  # (N_train,) uint8
    val: Tensor  # (N_val,) uint8
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]


def load_corpus(files: list[str], val_fraction: float = 0.1, seed: int = 0) -> Corpus:
    """Shuffle ``files`` with ``seed``, hold out ``val_fraction`` of them (at least one)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    order = sorted(files)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * val_fraction))
    val_files, train_files = sorted(order[:n_val]), sorted(order[n_val:])

    def read(names: list[str]) -> Tensor:
        data = b"".join(Path(n).read_bytes() + b"\n" for n in names)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    return Corpus(read(train_files), read(val_files), tuple(train_files), tuple(val_files))


def sample_batch(data: Tensor, batch: int, seq_len: int, gen: torch.Generator
                 ) -> tuple[Tensor, Tensor]:
    """Random windows: inputs and next-byte targets, ``(batch, seq_len)`` int64 each."""
    if data.numel() < seq_len + 2:
        raise ValueError(f"the text has {data.numel()} bytes, fewer than seq_len + 2 = "
                         f"{seq_len + 2}")
    starts = torch.randint(0, data.numel() - seq_len - 1, (batch,), generator=gen)
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    w = data[idx].long()
    return w[:, :-1], w[:, 1:]


def eval_windows(data: Tensor, n: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """``n`` evenly spaced fixed windows of the validation text (the same for every model)."""
    span = data.numel() - seq_len - 1
    if span < 1:
        raise ValueError(f"the validation text has {data.numel()} bytes, fewer than "
                         f"seq_len + 2 = {seq_len + 2}")
    starts = torch.linspace(0, span - 1, n).long()
    idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
    w = data[idx].long()
    return w[:, :-1], w[:, 1:]
