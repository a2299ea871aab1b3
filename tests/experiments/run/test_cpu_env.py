"""Pinned CPU settings (``prlstm.experiments.run.cpu_env``): what ``pin`` sets, that the ``prlstm``
command and its sweep workers run the pinned kernels, and that results record them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prlstm.experiments.orchestrate.reproduce import (
    NOT_RECORDED,
    recorded_settings,
    settings_report,
)
from prlstm.experiments.run import cpu_env

SRC = Path(__file__).resolve().parents[3] / "src"
PINNED_LEVEL = "AVX2"


def fresh_env() -> dict[str, str]:
    """An environment without any CPU setting, if x86-64 hardware allows: not this process's."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT")
           if k in os.environ}
    env.update(PYTHONPATH=str(SRC), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def needs_avx2() -> None:
    if not cpu_env.is_x86_64() or cpu_env.cpu_has_avx2() is not True:
        pytest.skip("the pin's AVX2 level needs an x86-64 CPU with AVX2")


def prlstm(*args: str, env: dict[str, str]) -> None:
    """``python -m prlstm.cli ARGS`` (the console entry) in a child process."""
    done = subprocess.run([sys.executable, "-m", "prlstm.cli", *args], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr, done.stderr[-3000:]


def result(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "result.json").read_text())


# --- pin() on a dictionary: no process state involved -----------------------------------------

def test_pin_sets_every_unset_variable_and_marks_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_env, "is_x86_64", lambda machine=None: True)
    monkeypatch.setattr(cpu_env, "cpu_has_avx2", lambda: True)
    env: dict[str, str] = {}
    assert cpu_env.pin(env) == cpu_env.PINNED
    assert env[cpu_env.MARKER] == ",".join(sorted(cpu_env.PINNED))
    assert cpu_env.pin(env) == {}  # a second call (a child inheriting them) changes nothing
    assert cpu_env.worker_env(env) == env
    mine = {name: "1" for name in cpu_env.PINNED}
    assert cpu_env.pin(mine) == {} and mine[cpu_env.MARKER] == "-"  # all the user's


def test_pin_keeps_a_user_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_env, "is_x86_64", lambda machine=None: True)
    monkeypatch.setattr(cpu_env, "cpu_has_avx2", lambda: True)
    env = {"ATEN_CPU_CAPABILITY": "avx512", "DNNL_MAX_CPU_ISA": "AVX512_CORE"}
    added = cpu_env.pin(env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx512" and "ONEDNN_MAX_CPU_ISA" not in env
    assert set(added) == {"MKL_CBWR", "MKL_DYNAMIC"}


@pytest.mark.parametrize(("machine", "avx2", "switch", "expect"), [
    ("x86_64", True, "0", set()),
    ("x86_64", True, "off", set()),
    ("aarch64", True, None, set()),
    ("x86_64", False, None, {"MKL_CBWR", "MKL_DYNAMIC", "ONEDNN_MAX_CPU_ISA"}),
])
def test_pin_off_opted_out_not_x86_or_no_avx2(monkeypatch: pytest.MonkeyPatch, machine: str,
                                             avx2: bool, switch: str | None,
                                             expect: set[str]) -> None:
    monkeypatch.setattr(cpu_env.platform, "machine", lambda: machine)
    monkeypatch.setattr(cpu_env, "cpu_has_avx2", lambda: avx2)
    env = {} if switch is None else {cpu_env.SWITCH: switch}
    assert set(cpu_env.pin(env)) == expect
    if switch is not None:
        assert cpu_env.status(env) == f"off: PRLSTM_CPU_PIN={switch}"
    elif machine != "x86_64":
        assert cpu_env.status(env) == "off: not x86-64 (aarch64)"


def test_pinned_gives_the_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*cpu_env.PINNED, cpu_env.MARKER, cpu_env.SWITCH):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    before = dict(os.environ)
    with cpu_env.pinned():
        assert os.environ["MKL_CBWR"] == "AUTO"  # the user's
    assert dict(os.environ) == before


def test_old_results_say_not_recorded() -> None:
    old = {"cpu_capability": "AVX512", "torch_version": "2.9.0+cpu", "train_threads": 1}
    seen = recorded_settings(old)
    assert seen["cpu_capability"] == "AVX512" and seen["MKL_CBWR"] == NOT_RECORDED
    now = {**seen, "cpu_capability": "AVX2", "MKL_CBWR": "COMPATIBLE"}
    lines = settings_report(old, "runs/x", now)
    assert "  cpu_capability: recorded AVX512, this process AVX2" in lines
    assert any(line.startswith("  MKL_CBWR: not recorded") for line in lines)
    assert lines[-1].endswith("PRLSTM_CPU_PIN=0 ATEN_CPU_CAPABILITY=avx512 OMP_NUM_THREADS=1 "
                              "prlstm reproduce runs/x")


# --- the console entry and its workers, in child processes ------------------------------------

@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two smoke runs trained and evaluated by ``prlstm sweep --workers 2`` (spawned workers)
    started in a fresh environment."""
    needs_avx2()
    out = tmp_path_factory.mktemp("swept")
    prlstm("sweep", "--preset", "smoke", "--tasks", "parity_check", "--models", "pr_lstm",
           "--seeds", "0", "1", "--steps", "2", "--workers", "2", "--quiet", "--out", str(out),
           env=fresh_env())
    return out


@pytest.mark.slow
def test_sweep_workers_run_and_record_the_pinned_settings(swept: Path) -> None:
    runs = sorted(p.parent for p in swept.rglob("result.json"))
    assert len(runs) == 2
    for run in runs:
        got = result(run)
        assert got["cpu_capability"] == PINNED_LEVEL
        assert got["cpu_env"]["pin"] == "on" and got["cpu_env"]["user_set"] == []
        assert got["cpu_env"]["env"] == cpu_env.PINNED
        assert got["cpu_env"]["mkl_cbwr"] in ("COMPATIBLE", None)  # None: not readable here
        assert got["cpu_env"]["threads"] == got["train_threads"]


@pytest.mark.slow
def test_entry_pins_keeps_user_values_and_opts_out(swept: Path, tmp_path: Path) -> None:
    run = sorted(p.parent for p in swept.rglob("result.json"))[0]
    # `prlstm eval` records the settings of the entry's own process
    prlstm("eval", str(run), "--quiet", env=fresh_env())
    assert result(run)["cpu_capability"] == PINNED_LEVEL

    prlstm("eval", str(run), "--quiet",
           env={**fresh_env(), "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO"})
    got = result(run)["cpu_env"]
    assert got["cpu_capability"] == "DEFAULT" and got["user_set"] == [
        "ATEN_CPU_CAPABILITY", "MKL_CBWR"]
    assert got["env"]["MKL_CBWR"] == "AUTO" and got["env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"

    prlstm("eval", str(run), "--quiet", env={**fresh_env(), "PRLSTM_CPU_PIN": "0"})
    got = result(run)["cpu_env"]
    assert got["pin"] == "off: PRLSTM_CPU_PIN=0"
    assert set(got["env"].values()) == {None} and got["mkl_cbwr"] in ("OFF", None)
    native = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu."
                             "get_cpu_capability())"], env=fresh_env(), capture_output=True,
                            text=True, check=True).stdout.strip()
    assert got["cpu_capability"] == native
