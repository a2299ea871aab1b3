"""Defects found by an adversarial pass, one test (or a few) each.

1. Names read from result.json decide no path outside the report directory; a malformed
   result.json is skipped with one warning instead of aborting the report.
2. The LM demo's checkpoint is crash-safe (checked in ``test_lm_kill_between_any_two_writes``).
3. One trainer per run directory (``prlstm train``, ``prlstm lm train``).
4. A checkpoint manifest names plain files inside its run directory and carries its digest.
5. One-line errors instead of tracebacks (damaged log, huge sizes, odd devices, threads).
6. No silent nonsense: non-finite lr, diverging training, NaN or int64 checkpoints, empty lists.
7. ``StreamState.select`` takes integer rows or a bool mask, nothing else.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from prlstm import PRLSTM
from prlstm.cli import main
from prlstm.experiments.reporting.plots import write_plots
from prlstm.experiments.reporting.report import write_report
from prlstm.experiments.reporting.results import group_results, load_results
from prlstm.experiments.run import io as io_module
from prlstm.experiments.run.checkpoint import (
    MANIFEST,
    CheckpointError,
    _sha256,
    read_manifest,
    write_checkpoint_set,
)
from prlstm.experiments.run.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.run.io import read_json, with_digest, write_json
from prlstm.experiments.run.lock import TRAIN_LOCK, lock_run_dir
from prlstm.experiments.run.train import train
from prlstm.experiments.run.trainlog import read_rows
from prlstm.lm.train import LMConfig, load_run, train_lm
from prlstm.naming import file_in

ERROR = 2
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """The one error line on stderr (the CLI's environment warnings aside)."""
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.strip() and not line.startswith("prlstm: warning:")]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert all(n in lines[0] for n in needles), lines
    return lines[0]


# --- 1. names and field types in result.json ------------------------------------------------

def _result(task: str = "parity_check", model: str = "lstm", seed: int = 0) -> dict[str, Any]:
    accuracy = [1.0, 1.0, 0.5, 0.25]
    return {"task": task, "level": "regular", "model": model, "seed": seed, "lr": 0.001,
            "steps": 10, "score": 0.375, "solved": False, "in_range_accuracy": 1.0,
            "fitted": True, "train_length": 2, "lengths": [1, 2, 3, 4], "accuracy": accuracy,
            "model_config": {"hidden_size": 8}, "config": {"hparams": {}, "task_options": {}},
            "run_id": f"{task}/{model}/s{seed}"}


def _tree(root: Path, *results: dict[str, Any]) -> Path:
    for i, result in enumerate(results):
        run_dir = root / "runs" / f"run{i}"
        run_dir.mkdir(parents=True)
        (run_dir / RESULT_FILE).write_text(json.dumps(result), encoding="utf-8")
    return root / "runs"


@pytest.mark.parametrize("task", ["../../X", "/abs/X", "a/b", ".hidden", "x\ny", 7])
def test_a_task_name_that_is_a_path_is_skipped(tmp_path: Path, capsys, task) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    # with this directory, "accuracy_../../X.png" in rep/ was tmp_path/X.png
    (tmp_path / "rep" / "accuracy_..").mkdir(parents=True)
    runs = _tree(tmp_path, _result(), _result(task=task))
    before = {p for p in tmp_path.rglob("*") if "rep" not in p.parts}
    table, written = write_report(runs, tmp_path / "rep")
    assert "lstm" in table
    assert all(p.resolve().parent == (tmp_path / "rep").resolve() for p in written)
    assert {p for p in tmp_path.rglob("*") if "rep" not in p.parts} == before
    err = capsys.readouterr().err
    assert "run1" in err and "field 'task'" in err and "Traceback" not in err


def test_plot_file_names_stay_in_the_output_directory(tmp_path: Path) -> None:
    """Even a name that reaches the plots unchecked (an in-memory group) cannot leave."""
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    (tmp_path / "out" / "accuracy_..").mkdir(parents=True)
    groups = group_results([{**_result(task="../../X"), "run_dir": str(tmp_path)}])
    written = write_plots(groups, tmp_path / "out")
    assert all(p.parent == tmp_path / "out" for p in written)
    assert not (tmp_path / "X.png").exists()
    assert file_in(tmp_path, "accuracy_", "parity_check", ".png").name == \
        "accuracy_parity_check.png"


MALFORMED = [
    ("score", "0.5"), ("score", float("inf")), ("score", 1e308), ("score", None),
    ("score", True), ("accuracy", "abc"), ("accuracy", [["x"]]), ("accuracy", {"1": 0.5}),
    ("accuracy", []), ("accuracy", [0.5, float("inf"), 1, 1]), ("lengths", [1, 2]),
    ("lengths", "1234"), ("train_length", "2"), ("train_length", 1e9), ("seed", "abc"),
    ("seed", [0]), ("run_id", [1]), ("model", "a/b"), ("model", ["lstm"]),
    ("in_range_accuracy", "high"), ("fitted", "yes"), ("steps_to_generalise", "x"),
    ("model_config", []), ("config", {"hparams": []}), ("config", "cfg"),
    ("extra_lengths", {"per_length": [1], "accuracy": {"1000": 0.5}}),
    ("extra_lengths", {"accuracy": {"x": 0.5}}), ("lr", "fast"), ("parameters", "many"),
    ("steps", None), ("config", {"lr_decay_fraction": float("inf")}),
    ("config", {"eval_per_length": [32]}), ("validation", {"lengths": 5}),
    ("model_config", {"hidden_size": 10**9}),
]


@pytest.mark.parametrize(("field", "value"), MALFORMED)
def test_a_malformed_result_is_skipped_with_one_warning(tmp_path: Path, capsys, field,
                                                        value) -> None:
    runs = _tree(tmp_path, _result(), {**_result(seed=1), field: value})
    assert len(load_results(runs)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run1" in err and f"'{field}'" in err, err
    table, _ = write_report(runs, tmp_path / "rep", plots=False)
    assert "lstm" in table


# --- 3. one trainer per run directory ---------------------------------------------------------

HOLD = ("import sys, time; from prlstm.experiments.run.lock import lock_run_dir\n"
        "with lock_run_dir(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n")


def _holder(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _corpus(root: Path) -> Path:
    corpus = root / "text"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"f{i}.py").write_text(f"def f{i}(x):\n    return x * {i} + {i}\n" * 30)
    return corpus


LM_FLAGS = ["--val-fraction", "0.34", "--steps", "4", "--batch", "2", "--seq-len", "16",
            "--eval-every", "2", "--ckpt-every", "2", "--emb", "8", "--hidden", "8", "--quiet"]


@pytest.mark.slow
def test_a_second_trainer_on_a_run_dir_is_refused(tmp_path: Path, capsys) -> None:
    run_dir, lm_dir = tmp_path / "run", tmp_path / "lm"
    run_dir.mkdir()
    lm_dir.mkdir()
    corpus = _corpus(tmp_path)
    train_argv = ["train", "--preset", "smoke", "--task", "parity_check", "--model", "lstm",
                  "--steps", "2", "--run-dir", str(run_dir), "--quiet"]
    lm_argv = ["lm", "train", "--model", "lstm", "--out", str(lm_dir), "--files", str(corpus),
               *LM_FLAGS]
    holders = [_holder(run_dir), _holder(lm_dir)]
    try:
        assert main(train_argv) == ERROR
        _one_line_error(capsys, "in use by another training run", f"pid {holders[0].pid}")
        assert main(lm_argv) == ERROR
        _one_line_error(capsys, "in use by another training run", f"pid {holders[1].pid}")
        assert sorted(p.name for p in run_dir.iterdir()) == [TRAIN_LOCK]  # nothing written
        assert sorted(p.name for p in lm_dir.iterdir()) == [TRAIN_LOCK]
    finally:
        for holder in holders:
            holder.send_signal(signal.SIGKILL)  # a killed holder leaves no stale lock
            holder.wait()
    assert main(train_argv) == 0
    assert main(lm_argv) == 0


def test_the_run_lock_is_held_while_training(smoke, tmp_path: Path) -> None:
    def try_lock(step: int) -> None:
        with pytest.raises(FileExistsError, match="another training run"):
            with lock_run_dir(tmp_path):
                pass

    train(smoke(steps=2), tmp_path, progress=False, on_step=try_lock)
    with lock_run_dir(tmp_path):  # released afterwards
        pass


# --- 4. manifests name plain files inside the run directory -----------------------------------

@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> Path:
    """A run of 4 steps stopped after its checkpoint of step 2."""
    from prlstm.experiments.orchestrate.presets import make_config

    run_dir = tmp_path_factory.mktemp("partial") / "run"

    def stop(step: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(make_config("parity_check", "lstm", "smoke", steps=4, ckpt_every=2), run_dir,
              progress=False, on_step=stop)
    return run_dir


def _copy(run_dir: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for p in run_dir.iterdir():
        (target / p.name).write_bytes(p.read_bytes())
    return target


def _edit_manifest(run_dir: Path, digest: bool = True, **changes: Any) -> None:
    manifest = read_json(run_dir / MANIFEST)
    manifest.pop("digest")
    manifest.update(changes)
    write_json(run_dir / MANIFEST, with_digest(manifest) if digest else manifest)


def test_a_manifest_pointing_outside_its_run_dir_is_refused(partial: Path,
                                                            tmp_path: Path) -> None:
    run_dir = _copy(partial, tmp_path / "a" / "b" / "run")
    state = read_manifest(run_dir)["state"]
    outside = tmp_path / "outside_state.pt"
    outside.write_bytes((run_dir / state).read_bytes())
    for name in ("../../../outside_state.pt", str(outside)):
        sha = dict(read_json(run_dir / MANIFEST)["sha256"], **{name: _sha256(outside)})
        _edit_manifest(run_dir, state=name, sha256=sha)
        with pytest.raises(CheckpointError, match="expected a plain file name"):
            read_manifest(run_dir)
    _edit_manifest(run_dir, state=state)
    read_manifest(run_dir)  # restored: fine again
    (run_dir / state).unlink()
    (run_dir / state).symlink_to(outside)
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_manifest(run_dir)


def test_a_manifest_without_its_digest_or_with_odd_fields_is_refused(partial: Path,
                                                                     tmp_path: Path) -> None:
    run_dir = _copy(partial, tmp_path / "run")
    _edit_manifest(run_dir, digest=False, step=3)  # edited, then the digest deleted
    with pytest.raises(CheckpointError, match="has no 'digest'"):
        read_manifest(run_dir)
    changes = [({"sha256": "abc"}, "sha256 is str"), ({"step": "2"}, "step '2'"),
               ({"config": [1]}, "config is list"), ({"extra": None}, "extra is NoneType")]
    for i, (change, needle) in enumerate(changes):
        fresh = _copy(partial, tmp_path / f"fresh{i}")
        _edit_manifest(fresh, **change)
        with pytest.raises(CheckpointError, match=needle):
            read_manifest(fresh)


# --- 5. one-line errors -------------------------------------------------------------------------

def test_a_log_with_an_infinite_step_is_read_without_it(tmp_path: Path) -> None:
    (tmp_path / "train_log.csv").write_text(
        "step,loss,accuracy,wall_seconds\n1,0.5,0.5,1\ninf,0.5,0.5,2\n-3,0.5,0.5,2\n"
        "2.5,0.5,0.5,2\n1e400,0.5,0.5,3\n4,0.5,0.5,4\n")
    assert [r.step for r in read_rows(tmp_path)] == [1, 4]


@pytest.mark.parametrize(("flags", "needles"), [
    (["--batch-size", "1000000000000"], ("batch_size must be at most 1,000,000",)),
    (["--eval-length", "100000000"], ("eval_length must be at most",)),
    (["--hidden-size", "10000000"], ("hidden_size must be at most 65,536",)),
    (["--device", "meta"], ("device must be auto, cpu, cuda or cuda:N", "'meta'")),
    (["--lr", "inf"], ("lr must be a finite positive number",)),
    (["--lr", "nan"], ("lr must be a positive number",)),
    (["--train-length", "40", "--eval-length", "20"], ("eval_length (M = 20) must be at least",)),
])
def test_bad_run_settings_get_one_line(tmp_path: Path, capsys, flags, needles) -> None:
    argv = ["train", "--preset", "smoke", "--task", "parity_check", "--model", "lstm",
            "--out", str(tmp_path / "out"), "--quiet", *flags]
    assert main(argv) == ERROR
    _one_line_error(capsys, *needles)
    assert not (tmp_path / "out").exists()


def test_eval_on_the_meta_device_is_refused(finished: Path, capsys) -> None:
    assert main(["eval", str(finished), "--device", "meta", "--quiet"]) == ERROR
    _one_line_error(capsys, "device must be auto, cpu, cuda or cuda:N")


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_lm_threads_must_be_positive(tmp_path: Path, capsys, threads) -> None:
    argv = ["lm", "train", "--out", str(tmp_path / "lm"), "--files", str(tmp_path),
            "--threads", threads, *LM_FLAGS]
    assert main(argv) == ERROR
    _one_line_error(capsys, "--threads: expected an integer in [1,", threads)


@pytest.mark.parametrize(("flag", "value"), [("--seeds", ","), ("--lrs", ",,"),
                                             ("--models", ","), ("--tasks", ",")])
def test_an_empty_list_flag_is_refused(tmp_path: Path, capsys, flag, value) -> None:
    argv = ["sweep", "--preset", "smoke", "--tasks", "parity_check", "--models", "lstm",
            "--out", str(tmp_path / "out"), "--quiet", flag, value]
    assert main(argv) == ERROR
    _one_line_error(capsys, f"{flag}: expected at least one value, got '{value}'")
    assert not (tmp_path / "out").exists()


# --- 6. no silent nonsense ----------------------------------------------------------------------

def _poison(model_holder: dict[str, Any], at: int) -> Callable[[int], None]:
    """An ``on_step`` that fills the first weight with NaN after step ``at``."""
    def on_step(step: int) -> None:
        if step == at:
            with torch.no_grad():
                next(model_holder["model"].parameters()).fill_(float("nan"))
    return on_step


@pytest.mark.parametrize(("log_every", "ckpt_every", "kept"), [(1, 1, 2), (100, 4, 0)])
def test_training_that_diverges_stops_and_keeps_the_last_finite_checkpoint(
        smoke, tmp_path: Path, monkeypatch, log_every, ckpt_every, kept) -> None:
    train_module = importlib.import_module("prlstm.experiments.run.train")  # not the function
    holder: dict[str, Any] = {}
    build = train_module.build_model

    def keep(*args: Any, **kwargs: Any) -> torch.nn.Module:
        holder["model"] = build(*args, **kwargs)
        return holder["model"]

    monkeypatch.setattr(train_module, "build_model", keep)
    config = smoke(steps=8, log_every=log_every, ckpt_every=ckpt_every)
    with pytest.raises(ValueError, match="training diverged at step 3: the loss or gradient"):
        train(config, tmp_path, progress=False, on_step=_poison(holder, 2))
    if kept:
        assert read_manifest(tmp_path)["step"] == kept
        weights = load_file(tmp_path / read_manifest(tmp_path)["weights"])
        assert all(torch.isfinite(w).all() for w in weights.values())
        assert max(r.step for r in read_rows(tmp_path)) == kept  # no NaN row logged
    else:
        assert not (tmp_path / MANIFEST).exists()


def test_non_finite_weights_are_never_checkpointed(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.bias.fill_(float("inf"))
    with pytest.raises(CheckpointError, match="'bias' holds NaN or infinite values"):
        write_checkpoint_set(tmp_path, 1, model, {}, {}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    from prlstm.experiments.orchestrate.presets import make_config

    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(make_config("parity_check", "lstm", "smoke", steps=2), run_dir, progress=False)
    return run_dir


def _replace_weights(run_dir: Path, change: Callable[[torch.Tensor], torch.Tensor]) -> None:
    name = read_manifest(run_dir)["weights"]
    tensors = {k: change(v) for k, v in load_file(run_dir / name).items()}
    save_file(tensors, run_dir / name)
    sha = dict(read_json(run_dir / MANIFEST)["sha256"], **{name: _sha256(run_dir / name)})
    _edit_manifest(run_dir, sha256=sha)


@pytest.mark.parametrize(("change", "needle"), [
    (lambda t: torch.full_like(t, float("nan")), "holds NaN or infinite values"),
    (lambda t: t.to(torch.int64), "has dtype torch.int64, expected the model's torch.float32"),
])
def test_nan_or_int64_weights_are_not_evaluated(finished: Path, tmp_path: Path, capsys, change,
                                                needle) -> None:
    run_dir = _copy(finished, tmp_path / "run")
    _replace_weights(run_dir, change)
    with pytest.raises(CheckpointError, match=needle):
        evaluate_run(run_dir, progress=False)
    assert main(["eval", str(run_dir), "--quiet"]) == ERROR
    _one_line_error(capsys, needle)
    assert not (run_dir / RESULT_FILE).exists()


# --- 2. the LM checkpoint survives a kill between any two file writes -------------------------

class _Killed(BaseException):
    """A kill: not an Exception, so nothing on the way catches it."""


def _lm_config(corpus: Path) -> LMConfig:
    return LMConfig(model="pr_lstm", files=[str(corpus)], val_fraction=0.34, steps=4,
                    batch_size=2, seq_len=16, val_every=2, ckpt_every=2, eval_windows=2,
                    embedding_size=8, hidden_size=8)


def _lm_weights(run: Path) -> dict[str, torch.Tensor]:
    return dict(load_run(run)[1].state_dict())


@pytest.mark.slow
def test_lm_kill_between_any_two_writes(tmp_path: Path, monkeypatch) -> None:
    cfg = _lm_config(_corpus(tmp_path))
    reference = train_lm(cfg, tmp_path / "ref", progress=False)
    expected = _lm_weights(tmp_path / "ref")
    real_replace = os.replace
    writes: list[str] = []
    kill = {"after": 0}  # 0: no kill

    def counting(src: Any, dst: Any) -> None:
        real_replace(src, dst)  # every file of a run is written by this rename
        writes.append(Path(dst).name)
        if len(writes) == kill["after"]:
            raise _Killed(Path(dst).name)

    monkeypatch.setattr(io_module.os, "replace", counting)
    train_lm(cfg, tmp_path / "count", progress=False)
    total = len(writes)
    assert total >= 9 and writes.count(MANIFEST) == 2, writes
    for after in range(1, total):
        writes.clear()
        kill["after"] = after
        run = tmp_path / f"killed{after}"
        with pytest.raises(_Killed):
            train_lm(cfg, run, progress=False)
        kill["after"] = 0
        summary = train_lm(cfg, run, progress=False)  # resume (or start over)
        got = _lm_weights(run)
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in expected), \
            f"killed after write {after} ({writes[after - 1]}): different final weights"
        assert summary["val_bpc"] == reference["val_bpc"]


# --- 7. StreamState.select ------------------------------------------------------------------------

def test_select_takes_integer_rows_or_a_bool_mask() -> None:
    torch.manual_seed(0)
    layer = PRLSTM(3, 4).double()
    _, state = layer.prefill(torch.randn(3, 5, 3, dtype=torch.float64))
    x = torch.randn(2, 3, dtype=torch.float64)
    by_rows, _ = layer.step(x, state.select([0, 2]))
    for mask in ([True, False, True], torch.tensor([True, False, True])):
        by_mask, _ = layer.step(x, state.select(mask))
        torch.testing.assert_close(by_mask, by_rows, atol=0, rtol=0)
    for bad, needle in [([0.5], "dtype torch.float32"), (torch.tensor([1.0]), "dtype"),
                        ([True, False], "batch_size=3 entries, got 2"),
                        ([False, False, False], "selects no row"),
                        (["a"], "integer row numbers or a bool mask")]:
        with pytest.raises(ValueError, match=needle):
            state.select(bad)


def test_reproduce_work_dir_that_is_a_file_is_one_line(tmp_path, capsys) -> None:
    from prlstm.cli import main

    run = tmp_path / "run"
    assert main(["train", "--task", "parity_check", "--model", "rnn", "--preset", "smoke",
                 "--run-dir", str(run), "--quiet"]) == 0
    assert main(["eval", str(run), "--quiet"]) == 0
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["reproduce", str(run), "--work-dir", str(blocker), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "a_file" in err[-1] and err[-1].startswith("prlstm reproduce: error")


def test_cli_maps_os_and_memory_errors_to_one_line(monkeypatch, capsys) -> None:
    from prlstm import cli
    from prlstm.experiments import cli as experiments_cli

    def full_disk(args):
        raise OSError(28, "No space left on device", "/full/run/train_log.csv")

    monkeypatch.setattr(experiments_cli, "cmd_train", full_disk)
    assert cli.main(["train", "--task", "parity_check", "--model", "rnn"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "/full/run" in err

    def no_memory(args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 400000000000 bytes.")

    monkeypatch.setattr(experiments_cli, "cmd_train", no_memory)
    assert cli.main(["train", "--task", "parity_check", "--model", "rnn"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory" in err

    def bug(args):
        raise RuntimeError("shape mismatch in a matmul")

    monkeypatch.setattr(experiments_cli, "cmd_train", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):  # a bug keeps its traceback
        cli.main(["train", "--task", "parity_check", "--model", "rnn"])


@pytest.mark.slow
@pytest.mark.parametrize(("field", "value"), [("num_hidden_layers", 10**7),
                                              ("hidden_size", 10**5), ("vocab_size", 1 << 30)])
def test_hf_config_sizes_are_bounded(field: str, value: int) -> None:
    pytest.importorskip("transformers")
    from prlstm.hf import PRLSTMConfig

    with pytest.raises(ValueError, match=f"{field} must be at most"):
        PRLSTMConfig(**{"vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1, field: value})
