"""``prlstm reproduce RUN_DIR``: re-train a saved run from its ``config.json`` and compare.

A committed result promises that its saved config alone re-trains to the same numbers: same
score, same accuracy at every length, same training log (wall-clock column aside). Training on
the CPU is deterministic for a fixed torch build, thread count and CPU settings: the ATen
kernel level (``cpu_capability``: AVX2 and AVX512 kernels round differently, so a run trained on
one can drift from one trained on the other in the last digits and, for chaotic runs, in the
score), oneMKL's reproducibility branch and oneDNN's instruction set, which the ``prlstm``
command pins (:mod:`prlstm.experiments.run.cpu_env`, ``docs/reproducibility.md``) and a result
records under ``cpu_env``. Before re-training, the recorded settings are compared with this
process's; results from before ``cpu_env`` existed say "not recorded".
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prlstm.experiments.run import cpu_env
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.run.io import ensure_writable_dir, read_json
from prlstm.experiments.run.train import CONFIG_FILE, train
from prlstm.experiments.run.trainlog import read_rows


@dataclass(frozen=True)
class Reproduction:
    """What re-training gave against what was saved."""

    saved: dict[str, Any]
    again: dict[str, Any]
    mismatches: list[str]
    settings: list[str] = field(default_factory=list)
    """Recorded CPU settings that differ from the re-training's (see :func:`settings_report`)."""

    @property
    def exact(self) -> bool:
        """Every compared number is identical."""
        return not self.mismatches


def _log_rows(run_dir: Path) -> list[tuple[float, ...]]:
    return [(r.step, r.loss, r.accuracy, r.grad_norm, r.grad_norm_max, r.lr, r.val_score)
            for r in read_rows(run_dir)]


def _same(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> bool:
    # NaN marks "not logged" (e.g. no validation on that row): equal to NaN here
    return len(a) == len(b) and all(
        len(x) == len(y) and all(p == q or (p != p and q != q) for p, q in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True))


NOT_RECORDED = "not recorded"
SETTINGS = ("cpu_capability", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_DYNAMIC", "threads",
            "torch_version", "machine")
"""What :func:`settings_report` compares; all but the last two can be set in the environment."""
_ATEN_LEVELS = {"DEFAULT": "default", "AVX2": "avx2", "AVX512": "avx512"}


def recorded_settings(result: Mapping[str, Any]) -> dict[str, str]:
    """The CPU settings ``result`` (a ``result.json``) was computed under, as text: ``unset``
    for a variable it recorded as unset, ``not recorded`` where the result predates them."""
    def text(value: Any) -> str:
        return NOT_RECORDED if value is None else str(value)

    found = {"cpu_capability": text(result.get("cpu_capability")),
             "threads": text(result.get("train_threads")),
             "torch_version": text(result.get("torch_version"))}
    record = result.get("cpu_env")
    if not isinstance(record, Mapping):
        return {key: found.get(key, NOT_RECORDED) for key in SETTINGS}
    env = record.get("env") or {}
    # oneMKL's branch as oneMKL reported it where it could (MKL_CBWR=AVX2 runs AUTO on AMD);
    # its OFF (no reproducibility branch) is what an unset MKL_CBWR means
    branch = record.get("mkl_cbwr") or env.get("MKL_CBWR")
    found["MKL_CBWR"] = "unset" if branch in (None, "", "OFF") else str(branch)
    for key in ("ONEDNN_MAX_CPU_ISA", "MKL_DYNAMIC"):
        found[key] = env.get(key) or "unset"
    found["machine"] = text(record.get("machine"))
    return {key: found[key] for key in SETTINGS}


def current_settings() -> dict[str, str]:
    """This process's CPU settings, as :func:`recorded_settings` reads a result's."""
    now = cpu_env.settings()
    return recorded_settings({"cpu_capability": now["cpu_capability"], "cpu_env": now,
                              "train_threads": now["threads"],
                              "torch_version": now["torch_version"]})


def recreate_command(result: Mapping[str, Any], run_dir: str | Path) -> str:
    """A ``prlstm reproduce`` command line whose environment asks for the settings ``result``
    recorded (its CPU must support them: AVX512 kernels do not run on an AVX2-only CPU)."""
    record = result.get("cpu_env")
    env: dict[str, str | None] = (dict(record.get("env") or {})
                                  if isinstance(record, Mapping) else {})
    level = _ATEN_LEVELS.get(str(result.get("cpu_capability")).upper())
    if level is not None:
        env["ATEN_CPU_CAPABILITY"] = level
    if isinstance(record, Mapping) and record.get("mkl_cbwr"):
        env["MKL_CBWR"] = None if record["mkl_cbwr"] == "OFF" else record["mkl_cbwr"]
    if result.get("train_threads"):
        env["OMP_NUM_THREADS"] = str(result["train_threads"])
    words = [f"{cpu_env.SWITCH}=0"] + [f"{key}={shlex.quote(value)}"
                                       for key, value in env.items() if value]
    return " ".join([*words, "prlstm", "reproduce", shlex.quote(str(run_dir))])


def settings_report(saved: Mapping[str, Any], run_dir: str | Path,
                    now: Mapping[str, str] | None = None) -> list[str]:
    """One line per setting where ``saved`` (a result) and ``now`` (default: this process's
    :func:`current_settings`) differ, plus the command that re-creates the recorded ones when
    an environment setting differs; empty when all agree."""
    recorded = recorded_settings(saved)
    now = current_settings() if now is None else now
    lines = []
    for key in SETTINGS:
        if recorded[key] == now[key]:
            continue
        was = (f"{NOT_RECORDED} (the result predates cpu_env)"
               if recorded[key] == NOT_RECORDED else f"recorded {recorded[key]}")
        lines.append(f"  {key}: {was}, this process {now[key]}")
    if any(recorded[key] != now[key] for key in SETTINGS[:5]):
        lines.append(f"  to re-train under the recorded settings: "
                     f"{recreate_command(saved, run_dir)}")
    return lines


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def reproduce(run_dir: str | Path, work_dir: str | Path | None = None, *,
              progress: bool | None = False,
              log: Callable[[str], None] | None = _stderr) -> Reproduction:
    """Re-train ``run_dir``'s config in ``work_dir`` (a temporary directory by default),
    evaluate it, and list every difference from the saved ``result.json`` and log.

    Recorded CPU settings that differ from this process's are reported through ``log`` before
    re-training (default: stderr; ``None``: silent) and kept in :attr:`Reproduction.settings`.

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json`` or ``result.json``.
    """
    root = Path(run_dir)
    for name in (CONFIG_FILE, RESULT_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name} not found: reproduce needs a finished run")
    config = RunConfig.from_dict(read_json(root / CONFIG_FILE))
    saved = read_json(root / RESULT_FILE)
    settings = settings_report(saved, root)
    if settings and log is not None:
        log("\n".join(["settings differ from the recorded ones, so the numbers may too:",
                       *settings]))
    if work_dir is not None:
        ensure_writable_dir(work_dir)  # one line for a file or an unwritable place
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        again_dir = Path(tmp) / "run"
        train(config, again_dir, progress=progress)
        again = evaluate_run(again_dir, progress=progress)
        same_log = _same(_log_rows(root), _log_rows(again_dir))
    mismatches = [key for key in ("score", "accuracy", "in_range_accuracy", "steps_to_generalise")
                  if key in saved and saved[key] != again.get(key)]
    if not same_log:
        mismatches.append("train_log.csv")
    return Reproduction(saved, again, mismatches, settings)


def describe(rep: Reproduction) -> str:
    """A human-readable verdict, after the settings that differ from the recorded ones."""
    score = f"score {100 * rep.again['score']:.2f}% (saved {100 * rep.saved['score']:.2f}%)"
    lines = ["settings (recorded vs this process):", *rep.settings] if rep.settings else []
    if rep.exact:
        lines.append(f"reproduced exactly: {score}, every length and log row identical")
    else:
        lines.append(f"NOT reproduced: {score}; differs in {', '.join(rep.mismatches)}")
    return "\n".join(lines)
