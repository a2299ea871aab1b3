"""Copy the finished part of a running cpu-fair sweep into this directory (checkpoints left out).

    python results/cpu-fair/collect.py SOURCE_RUNS_DIR

SOURCE_RUNS_DIR is the ``--out`` of a ``prlstm sweep --preset cpu-fair`` running elsewhere (a
separate clone). Copied: every reporting run with a ``result.json`` (its ``config.json``,
``result.json`` and ``train_log.csv``), every lr choice file (``tuning/<task>/<variant>.json``),
the ``config.json`` and ``train_log.csv`` of every tuning run trained to its last step, and
``tuning/edge_check.json`` (``edge_check.py``) when there is one.
Unfinished runs, checkpoints and lock files are not copied, so the copy holds only numbers
that will not change; a sweep started on this directory resumes from the choice files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "runs"
RUN_FILES = ("config.json", "result.json", "train_log.csv")


def _copy(src: Path, dst: Path, names: tuple[str, ...]) -> int:
    """Copy ``names`` that exist in ``src`` to ``dst`` (temp file, then rename)."""
    dst.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in names:
        if (src / name).is_file() and not (src / name).is_symlink():
            tmp = dst / f".{name}.tmp"
            shutil.copyfile(src / name, tmp)
            tmp.replace(dst / name)
            copied += 1
    return copied


def collect(source: Path, dest: Path = HERE) -> tuple[int, int]:
    """Copy finished reporting runs, lr choices and finished tuning runs' logs; returns
    (reporting runs, choices) copied."""
    runs = choices = 0
    for result in sorted(source.rglob("result.json")):
        rel = result.parent.relative_to(source)
        if rel.parts[0] != "tuning" and not result.parent.is_symlink():
            runs += _copy(result.parent, dest / rel, RUN_FILES) > 0
    tuning = source / "tuning"
    for choice in sorted(tuning.glob("*/*.json")) if tuning.is_dir() else []:
        _copy(choice.parent, dest / "tuning" / choice.parent.name, (choice.name,))
        choices += 1
    if (tuning / "edge_check.json").is_file():  # written by edge_check.py
        _copy(tuning, dest / "tuning", ("edge_check.json",))
    for config in sorted((tuning / "runs").rglob("config.json")) if tuning.is_dir() else []:
        run = config.parent
        if run.is_symlink() or not (run / "checkpoint.json").is_file():
            continue
        steps = json.loads(config.read_text(encoding="utf-8")).get("steps")
        manifest = json.loads((run / "checkpoint.json").read_text(encoding="utf-8"))
        if manifest.get("step") == steps:  # trained to the end: its log will not change
            _copy(run, dest / "tuning" / "runs" / run.relative_to(tuning / "runs"),
                  ("config.json", "train_log.csv"))
    return runs, choices


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        raise SystemExit("usage: python results/cpu-fair/collect.py SOURCE_RUNS_DIR")
    runs, choices = collect(Path(sys.argv[1]))
    print(f"copied {runs} runs and {choices} lr choices")
