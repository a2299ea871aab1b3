"""Fuzzed run files: checkpoints, result.json, train_log.csv truncated, bit-flipped, emptied,
or taken from another configuration or format version.

What may happen: a clear error (the sweep reports the run as failed, naming the file), a
refusal (a bad result.json is skipped and the run re-evaluated), or a resume/re-evaluation
that ends exactly where an undamaged run ends. What must never happen: a run that finishes
with different weights or a different result than the undamaged one (a silent wrong resume).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.sweep import finished_result, run_one
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.run.checkpoint import MANIFEST, read_manifest
from prlstm.experiments.run.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.run.io import read_json, write_json
from prlstm.experiments.run.train import train
from tests.properties.strategies import examples

CONFIG = make_config("parity_check", "lstm", "smoke", steps=6, ckpt_every=3, log_every=1)
RESULT_KEYS = ("score", "accuracy", "steps", "config")


class _Crash(RuntimeError):
    pass


def _crash_at_4(step: int) -> None:
    if step == 4:
        raise _Crash("killed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """``complete``: trained and evaluated; ``partial``: killed after step 4 (checkpoint 3)."""
    base = tmp_path_factory.mktemp("runs")
    complete = base / "complete"
    train(CONFIG, complete / CONFIG.run_id(), progress=False)
    evaluate_run(complete / CONFIG.run_id(), progress=False)
    partial = base / "partial"
    with pytest.raises(_Crash):
        train(CONFIG, partial / CONFIG.run_id(), progress=False, on_step=_crash_at_4)
    return {"complete": complete, "partial": partial}


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / read_manifest(run_dir)["weights"])


def _same_result(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in RESULT_KEYS)


def _corrupt(path: Path, how: str, where: float, bit: int) -> None:
    data = bytearray(path.read_bytes())
    pos = min(int(where * len(data)), len(data) - 1)
    if how == "truncate":
        data = data[:pos]
    elif how == "flip":
        data[pos] ^= 1 << bit
    elif how == "empty":
        data = bytearray()
    else:  # garbage appended
        data += bytes([0x00, 0xFF, 0x7B, 0x22])
    path.write_bytes(bytes(data))


FILES = st.sampled_from([MANIFEST, "weights", "state", "train_log.csv", "config.json",
                         RESULT_FILE])
HOW = st.sampled_from(["flip", "flip", "flip", "truncate", "empty", "append"])


@examples(15)
@given(which=st.sampled_from(["complete", "partial"]), name=FILES, how=HOW,
       where=st.floats(0, 1), bit=st.integers(0, 7))
def test_damaged_run_files_never_resume_silently_wrong(runs, which, name, how, where, bit):
    reference_dir = runs["complete"] / CONFIG.run_id()
    reference = read_json(reference_dir / RESULT_FILE)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        shutil.copytree(runs[which], out)
        run_dir = out / CONFIG.run_id()
        if name in ("weights", "state"):
            name = read_json(run_dir / MANIFEST)[name]
        if not (run_dir / name).is_file():
            return  # result.json of the partial run: nothing to damage
        _corrupt(run_dir / name, how, where, bit)

        # Readers of result.json: skip it (with a warning) or see the undamaged values.
        for loaded in load_results(out):
            assert _same_result(loaded, reference), "a damaged result.json was loaded"
        found = finished_result(run_dir, CONFIG)
        assert found is None or _same_result(found, reference)

        summary = run_one(CONFIG.to_dict(), str(out))
        if summary["status"] == "failed":
            assert run_dir.name in summary["error"] or "checkpoint" in summary["error"], \
                summary["error"]
            return
        result = read_json(run_dir / RESULT_FILE)
        assert _same_result(result, reference), f"silently different result ({summary})"
        if summary["status"] == "skipped":
            return  # an undamaged result.json: nothing was loaded from the checkpoint
        weights, expected = _weights(run_dir), _weights(reference_dir)
        assert all(torch.equal(weights[k], expected[k]) for k in expected), \
            "silently different weights"


def test_checkpoint_of_another_configuration_is_refused(runs, tmp_path: Path) -> None:
    other = make_config("parity_check", "lstm", "smoke", steps=6, ckpt_every=3, log_every=1,
                        seed=1)
    out = tmp_path / "out"
    shutil.copytree(runs["partial"] / CONFIG.run_id(), out / other.run_id())
    summary = run_one(other.to_dict(), str(out))
    assert summary["status"] == "failed"
    assert "belongs to another run configuration (seed: checkpoint 0 vs requested 1)" in \
        summary["error"]


@pytest.mark.parametrize("version", [0, 2, 99, "1", None])
def test_checkpoint_of_another_format_version_is_refused(runs, tmp_path: Path,
                                                         version) -> None:
    out = tmp_path / "out"
    shutil.copytree(runs["partial"], out)
    run_dir = out / CONFIG.run_id()
    manifest = read_json(run_dir / MANIFEST)
    manifest["format"] = version
    write_json(run_dir / MANIFEST, manifest)
    summary = run_one(CONFIG.to_dict(), str(out))
    assert summary["status"] == "failed" and "format" in summary["error"], summary


def test_result_of_another_configuration_is_not_taken_as_finished(runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(runs["complete"], out)
    run_dir = out / CONFIG.run_id()
    result = read_json(run_dir / RESULT_FILE)
    result["config"]["lr"] = 0.5
    write_json(run_dir / RESULT_FILE, result)
    assert finished_result(run_dir, CONFIG) is None
    summary = run_one(CONFIG.to_dict(), str(out))
    assert summary["status"] == "done"  # re-evaluated from the checkpoint
    assert read_json(run_dir / RESULT_FILE)["config"] == CONFIG.to_dict()


def test_a_digit_flipped_in_the_manifest_is_caught(runs, tmp_path: Path) -> None:
    """``"step": 3`` -> ``"step": 2`` is one bit and still valid JSON: without the manifest's
    digest the run would resume from step 2 with step 3's weights and finish silently wrong."""
    out = tmp_path / "out"
    shutil.copytree(runs["partial"], out)
    path = out / CONFIG.run_id() / MANIFEST
    text = path.read_bytes()
    assert b'"step": 3,' in text
    path.write_bytes(text.replace(b'"step": 3,', b'"step": 2,'))
    summary = run_one(CONFIG.to_dict(), str(out))
    assert summary["status"] == "failed" and "does not match its digest" in summary["error"]


def test_a_digit_flipped_in_result_json_is_caught(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    shutil.copytree(runs["complete"], out)
    path = out / CONFIG.run_id() / RESULT_FILE
    result = read_json(path)
    text = path.read_bytes()
    old = f'"seed": {result["seed"]},'.encode()
    path.write_bytes(text.replace(old, old.replace(b"0", b"1"), 1))  # '0' -> '1' is one bit
    assert load_results(out) == []
    assert "does not match its digest" in capsys.readouterr().err
    assert finished_result(out / CONFIG.run_id(), CONFIG) is None
