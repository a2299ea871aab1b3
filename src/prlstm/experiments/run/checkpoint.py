"""Checkpoints: safetensors weights + a torch file of optimizer/RNG state + a JSON manifest.

Layout inside a run directory::

    ckpt-00001000.safetensors   model weights (safetensors)
    ckpt-00001000.pt            optimizer state and RNG states (torch.save, loaded weights_only)
    checkpoint.json             manifest: step, config, file names, their SHA-256, extra state,
                                and the SHA-256 of the manifest's own content (``digest``)

The two data files are written first (each atomically), the manifest last, then older data
files are deleted; so a kill at any moment leaves a manifest that points at a complete pair.
:func:`write_checkpoint_set` does this for any model; :func:`save_training_state` and
:func:`load_training_state` add the optimizer, and both training loops (the benchmark's and the
character LM's, :mod:`prlstm.experiments.run.loop`) checkpoint through them.
Loading verifies the manifest's digest (required) and the files' checksums (a truncated or
edited file is reported, never half-loaded), that the manifest names plain files inside the
run directory (no paths, no symbolic links), that every tensor has the model's dtype and
every weight is finite, and that the checkpoint was made by the same run configuration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.io import (
    DIGEST_KEY,
    atomic_write_file,
    intact,
    read_json,
    with_digest,
    write_json,
)

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


def non_finite_parameter(model: nn.Module) -> str | None:
    """The name of the first parameter of ``model`` holding a NaN or an infinity, or None."""
    for name, param in model.named_parameters(remove_duplicate=False):
        if param.is_floating_point() and not bool(torch.isfinite(param).all()):
            return name
    return None


def write_checkpoint_set(run_dir: str | Path, step: int, model: nn.Module,
                         state: dict[str, Any], config: dict[str, Any],
                         extra: dict[str, Any]) -> None:
    """Write one checkpoint crash-safely: ``ckpt-<step>.safetensors`` (``model``'s weights)
    and ``ckpt-<step>.pt`` (``state``, e.g. optimizer and RNG states) as new files, then the
    manifest (with ``config``, ``extra``, the files' SHA-256 and its own digest) replaced by
    rename, then the previous set's files deleted. A kill at any moment leaves the old
    manifest with its complete old pair, or the new one with its complete new pair.

    Raises:
        CheckpointError: a parameter holds NaN or infinite values (nothing is written).
    """
    root = Path(run_dir)
    bad = non_finite_parameter(model)
    if bad is not None:
        raise CheckpointError(f"refusing to checkpoint step {step} in {root}: parameter "
                              f"{bad!r} holds NaN or infinite values (training diverged)")
    weights, payload = f"ckpt-{step:08d}.safetensors", f"ckpt-{step:08d}.pt"
    atomic_write_file(root / weights, lambda name: save_model(model, name))
    atomic_write_file(root / payload, lambda name: torch.save(state, name))
    manifest = {
        "format": FORMAT_VERSION,
        "step": step,
        "config": config,
        "weights": weights,
        "state": payload,
        "sha256": {weights: _sha256(root / weights), payload: _sha256(root / payload)},
        "extra": extra,
    }
    write_json(root / MANIFEST, with_digest(manifest))
    for old in root.glob("ckpt-*"):
        if old.name not in (weights, payload):
            old.unlink(missing_ok=True)


def save_training_state(run_dir: str | Path, step: int, model: nn.Module,
                        optimizer: torch.optim.Optimizer, config: dict[str, Any],
                        extra: dict[str, Any], **states: Any) -> None:
    """The checkpoint of a training loop after ``step`` updates: ``model``'s weights, a state
    file of ``{"optimizer": ..., **states}`` (e.g. RNG states) and the manifest with
    ``config`` and ``extra`` (both JSON-able), written by :func:`write_checkpoint_set`."""
    state = {"optimizer": optimizer.state_dict(), **states}
    write_checkpoint_set(run_dir, step, model, state, config, extra)


def load_training_state(run_dir: str | Path, manifest: dict[str, Any], model: nn.Module,
                        optimizer: torch.optim.Optimizer | None,
                        device: torch.device | str = "cpu") -> dict[str, Any]:
    """Inverse of :func:`save_training_state` for a verified ``manifest``
    (:func:`read_manifest`): loads the weights into ``model`` and the optimizer state into
    ``optimizer`` (if given); returns the state file's dict.

    Raises:
        CheckpointError: the files do not fit ``model`` or ``optimizer``.
    """
    root = Path(run_dir)
    payload = load_checkpoint_files(root, manifest, model, device)
    try:
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
    except Exception as err:  # a payload of another shape: an unusable file
        raise CheckpointError(f"checkpoint in {root} cannot be loaded into this model: "
                              f"{type(err).__name__}: {err}") from err
    return payload


def save_checkpoint(run_dir: str | Path, config: RunConfig, step: int, model: nn.Module,
                    optimizer: torch.optim.Optimizer, extra: dict[str, Any]) -> None:
    """Write a benchmark checkpoint of ``model``/``optimizer`` after ``step`` updates, with
    torch's RNG states (:func:`rng_state`).

    ``extra`` must be JSON-able (e.g. accumulated wall time, log accumulators).
    """
    save_training_state(run_dir, step, model, optimizer, config.to_dict(), extra,
                        rng=rng_state())


def _plain_file(root: Path, name: Any, manifest: Path) -> Path:
    """``root / name`` if ``name`` is a plain file name (no directory part, not hidden) of a
    regular file that is not a symbolic link; a manifest never decides a path outside its
    run directory."""
    plain = (isinstance(name, str) and name not in ("", ".", "..") and not name.startswith(".")
             and "/" not in name and "\\" not in name and "\0" not in name)
    if not plain:
        raise CheckpointError(f"checkpoint manifest {manifest} names {name!r}: expected a plain "
                              "file name inside the run directory")
    file = root / name
    _not_a_link(file, "checkpoint file")
    if not file.is_file():
        raise CheckpointError(f"checkpoint file {file} is missing")
    return file


def _not_a_link(path: Path, what: str) -> None:
    if path.is_symlink():
        raise CheckpointError(f"{what} {path} is a symbolic link: expected a regular file "
                              "inside the run directory")


def _check_fields(manifest: dict[str, Any], path: Path) -> None:
    """The manifest's fields have their types (step a non-negative int, config/extra/sha256
    dicts, SHA-256 strings) and it carries its digest."""
    step = manifest["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"checkpoint manifest {path}: step {step!r} is not a "
                              "non-negative integer")
    for key in ("config", "extra", "sha256"):
        if not isinstance(manifest[key], dict):
            raise CheckpointError(f"checkpoint manifest {path}: {key} is "
                                  f"{type(manifest[key]).__name__} {manifest[key]!r:.60}, "
                                  "expected a JSON object")
    if not all(isinstance(v, str) for v in manifest["sha256"].values()):
        raise CheckpointError(f"checkpoint manifest {path}: sha256 must map file names to "
                              "hex strings")
    if DIGEST_KEY not in manifest:
        raise CheckpointError(f"checkpoint manifest {path} has no {DIGEST_KEY!r}: expected "
                              "the SHA-256 of its content (edited by hand?)")


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The verified manifest of ``run_dir``'s checkpoint (digest present and matching, files
    plain and present inside ``run_dir``, checksums matching)."""
    root = Path(run_dir)
    path = root / MANIFEST
    _not_a_link(path, "checkpoint manifest")
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
    _check_fields(manifest, path)
    if not intact(manifest):
        raise CheckpointError(f"checkpoint manifest {path} is corrupt (its content does not "
                              "match its digest)")
    for key in ("weights", "state"):
        file = _plain_file(root, manifest[key], path)
        if _sha256(file) != manifest["sha256"].get(manifest[key]):
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


def _check_tensors(path: Path, model: nn.Module) -> None:
    """Every tensor of the weights file has the dtype of the model's tensor of that name, and
    every weight is finite (an int64 or NaN tensor would otherwise be cast or used)."""
    expected = model.state_dict()
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            want = expected.get(key)
            if want is None:
                continue  # load_model(strict=True) names unexpected and missing keys
            tensor = f.get_tensor(key)
            if tensor.dtype != want.dtype:
                raise CheckpointError(f"checkpoint file {path}: tensor {key!r} has dtype "
                                      f"{tensor.dtype}, expected the model's {want.dtype}")
            if (key in params and tensor.is_floating_point()
                    and not bool(torch.isfinite(tensor).all())):
                raise CheckpointError(f"checkpoint file {path}: weight {key!r} holds NaN or "
                                      "infinite values; refusing to use these weights")


def load_checkpoint_files(run_dir: str | Path, manifest: dict[str, Any], model: nn.Module,
                          device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load the weights named by a verified ``manifest`` (:func:`read_manifest`) into
    ``model`` (dtypes and finiteness checked first) and return its state payload.

    Raises:
        CheckpointError: a tensor of another dtype, a non-finite weight, or a file that
            cannot be decoded or does not fit ``model``.
    """
    root = Path(run_dir)
    weights = root / manifest["weights"]
    try:
        _check_tensors(weights, model)
        load_model(model, str(weights), strict=True, device=str(device))
        payload = torch.load(root / manifest["state"], map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as err:  # any decoding failure means an unusable file
        raise CheckpointError(f"checkpoint in {root} cannot be loaded into this model: "
                              f"{type(err).__name__}: {err}") from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint file {root / manifest['state']} holds "
                              f"{type(payload).__name__}, expected a dict of states")
    return payload


def load_checkpoint(run_dir: str | Path, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, *,
                    config: RunConfig | None = None,
                    device: torch.device | str = "cpu") -> Checkpoint:
    """Load weights (and optimizer state) into ``model`` (and ``optimizer``).

    RNG states are returned in :attr:`Checkpoint.rng`, not applied; see
    :func:`restore_rng_state`.

    Raises:
        CheckpointError: missing/corrupt/truncated files, a checkpoint of another config,
            tensors of another dtype than the model's, or non-finite weights.
    """
    root = Path(run_dir)
    manifest = read_manifest(root)
    saved = checked_config(manifest, config, root)
    payload = load_training_state(root, manifest, model, optimizer, device)
    rng = payload.get("rng")
    if not isinstance(rng, dict):
        raise CheckpointError(f"checkpoint in {root} cannot be loaded into this model: its "
                              "state file holds no RNG states")
    return Checkpoint(step=manifest["step"], config=saved, extra=dict(manifest["extra"]),
                      rng=rng)
