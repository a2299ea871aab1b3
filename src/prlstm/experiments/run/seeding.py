"""Stable derived seeds: one independent stream per (purpose, run seed, step, ...) key.

Python's ``hash`` of strings changes between processes, so seeds are derived with BLAKE2b of a
canonical text key instead. Deriving every batch's seed from its step (rather than advancing
one stateful generator) is what lets a resumed run see exactly the batches it would have seen.
"""

from __future__ import annotations

import hashlib
import random
import re

import torch


def derive_seed(purpose: str, *parts: object) -> int:
    """A 63-bit seed determined only by ``purpose`` and ``parts`` (their ``repr``)."""
    key = "\x1f".join([purpose, *(repr(p) for p in parts)])
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def curriculum_length(seed: int, step: int, max_length: int) -> int:
    """The uniform curriculum: training length ``L ~ U{1..max_length}`` for update ``step``."""
    return random.Random(derive_seed("curriculum", seed, step)).randint(1, max_length)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; ``"cpu"``, ``"cuda"`` and ``"cuda:N"``
    are passed to torch; anything else (``"meta"``, ``"mps"``, ...) is refused."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:[0-9]+)?", device):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: {err}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} "
                         "CUDA device(s) are visible")
    return resolved
