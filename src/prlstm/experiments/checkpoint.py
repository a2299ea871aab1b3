"""Checkpoints: safetensors weights + a torch file of optimizer/RNG state + a JSON manifest.

Layout inside a run directory::

    ckpt-00001000.safetensors   model weights (safetensors)
    ckpt-00001000.pt            optimizer state and RNG states (torch.save, loaded weights_only)
    checkpoint.json             manifest: step, config, file names, their SHA-256, extra state,
                                and the SHA-256 of the manifest's own content (``digest``)

The two data files are written first (each atomically), the manifest last, then older data
files are deleted; so a kill at any moment leaves a manifest that points at a complete pair.
Loading verifies the checksums (a truncated or edited file is reported, never half-loaded) and
that the checkpoint was made by the same run configuration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn

from prlstm.experiments.config import RunConfig
from prlstm.experiments.io import atomic_write_file, intact, read_json, with_digest, write_json

MANIFEST = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated, or belongs to another configuration."""


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` restored besides the module and optimizer tensors."""

    step: int
    config: RunConfig
    extra: dict[str, Any]
    rng: dict[str, Any]


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint manifest."""
    return (Path(run_dir) / MANIFEST).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def rng_state() -> dict[str, Any]:
    """torch's global CPU RNG state and, when CUDA is initialised, every device's state."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state` (CUDA states are restored only if CUDA is present)."""
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda")
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(run_dir: str | Path, config: RunConfig, step: int, model: nn.Module,
                    optimizer: torch.optim.Optimizer, extra: dict[str, Any]) -> None:
    """Write a checkpoint of ``model``/``optimizer`` after ``step`` updates.

    ``extra`` must be JSON-able (e.g. accumulated wall time, log accumulators).
    """
    root = Path(run_dir)
    weights, state = f"ckpt-{step:08d}.safetensors", f"ckpt-{step:08d}.pt"
    atomic_write_file(root / weights, lambda name: save_model(model, name))
    payload = {"optimizer": optimizer.state_dict(), "rng": rng_state()}
    atomic_write_file(root / state, lambda name: torch.save(payload, name))
    manifest = {
        "format": FORMAT_VERSION,
        "step": step,
        "config": config.to_dict(),
        "weights": weights,
        "state": state,
        "sha256": {weights: _sha256(root / weights), state: _sha256(root / state)},
        "extra": extra,
    }
    write_json(root / MANIFEST, with_digest(manifest))
    for old in root.glob("ckpt-*"):
        if old.name not in (weights, state):
            old.unlink(missing_ok=True)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The verified manifest of ``run_dir``'s checkpoint (files present, checksums match)."""
    root = Path(run_dir)
    path = root / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"no checkpoint in {root} ({MANIFEST} not found)")
    try:
        manifest = read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint manifest {path} is corrupt: {err}") from err
    required = ("format", "step", "config", "weights", "state", "sha256", "extra")
    if not isinstance(manifest, dict) or any(k not in manifest for k in required):
        raise CheckpointError(f"checkpoint manifest {path} is incomplete or not a checkpoint")
    if manifest["format"] != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format {manifest['format']}, "
                              f"this version reads format {FORMAT_VERSION}")
    if not intact(manifest):
        raise CheckpointError(f"checkpoint manifest {path} is corrupt (its content does not "
                              "match its digest)")
    for key in ("weights", "state"):
        name = manifest[key]
        file = root / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint file {file} is missing")
        if _sha256(file) != manifest["sha256"].get(name):
            raise CheckpointError(f"checkpoint file {file} is corrupt or truncated "
                                  "(SHA-256 does not match the manifest)")
    return manifest


def checked_config(manifest: dict[str, Any], config: RunConfig | None, where: Path) -> RunConfig:
    """The manifest's config; if ``config`` is given it must describe the same run."""
    try:
        saved = RunConfig.from_dict(manifest["config"])
    except ValueError as err:
        raise CheckpointError(f"checkpoint in {where} has an invalid config: {err}") from err
    if config is not None:
        diffs = config.differences(saved)
        if diffs:
            detail = ", ".join(f"{k}: checkpoint {getattr(saved, k)!r} vs requested "
                               f"{getattr(config, k)!r}" for k in diffs)
            raise CheckpointError(f"checkpoint in {where} belongs to another run "
                                  f"configuration ({detail})")
    return saved


def load_checkpoint(run_dir: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, *,
                    config: RunConfig | None = None,
                    device: torch.device | str = "cpu") -> Checkpoint:
    """Load weights (and optimizer state) into ``model`` (and ``optimizer``).

    RNG states are returned in :attr:`Checkpoint.rng`, not applied; see
    :func:`restore_rng_state`.

    Raises:
        CheckpointError: missing/corrupt/truncated files, or a checkpoint of another config.
    """
    root = Path(run_dir)
    manifest = read_manifest(root)
    saved = checked_config(manifest, config, root)
    try:
        load_model(model, str(root / manifest["weights"]), strict=True, device=str(device))
        payload = torch.load(root / manifest["state"], map_location="cpu", weights_only=True)
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
    except CheckpointError:
        raise
    except Exception as err:  # any decoding failure means an unusable file
        raise CheckpointError(f"checkpoint in {root} cannot be loaded into this model: "
                              f"{type(err).__name__}: {err}") from err
    return Checkpoint(step=int(manifest["step"]), config=saved, extra=dict(manifest["extra"]),
                      rng=payload["rng"])
