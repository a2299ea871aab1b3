"""Copy the finished part of a running cpu-fair sweep into this directory (checkpoints left out).

    python results/cpu-fair/collect.py SOURCE_RUNS_DIR

SOURCE_RUNS_DIR is the ``--out`` of a ``prlstm sweep --preset cpu-fair`` running elsewhere (a
separate clone). Copied: every reporting run with a ``result.json`` (its ``config.json``,
``result.json`` and ``train_log.csv``), every lr choice file (``tuning/<task>/<variant>.json``),
the ``config.json`` and ``train_log.csv`` of every tuning run trained to its last step, and
``tuning/edge_check.json`` (``edge_check.py``) when there is one.
Unfinished runs, checkpoints and lock files are not copied, so the copy holds only numbers
that will not change; a sweep started on this directory resumes from the choice files. The
status line of ``results/cpu-fair/README.md`` ("N of the 440 had finished at HH:MM UTC") is
then rewritten with the count of reporting runs here.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import datetime, timezone
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


STATUS = re.compile(r"; \d+ of the (\d+) had finished at [0-9:]+ UTC\.\*\*")
COMPLETE = "**Status: complete."


def update_status(readme: Path, dest: Path = HERE, now: str | None = None) -> int:
    """Rewrite the README's "N of the 440 had finished at HH:MM UTC" with the reporting runs
    now under ``dest``; returns N. A README whose status says the grid is complete
    (``**Status: complete.``) is left as it is. Raises ValueError when the README has neither."""
    count = sum(1 for r in dest.rglob("result.json") if "tuning" not in r.relative_to(dest).parts)
    text = readme.read_text(encoding="utf-8")
    if COMPLETE in text:
        return count
    if not STATUS.search(text):
        raise ValueError(f"{readme}: no 'N of the ... had finished at HH:MM UTC.**' status line")
    stamp = now or datetime.now(timezone.utc).strftime("%H:%M")
    text = STATUS.sub(lambda m: f"; {count} of the {m.group(1)} had finished at {stamp} UTC.**",
                      text, count=1)
    tmp = readme.with_name(f".{readme.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(readme)
    return count


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        raise SystemExit("usage: python results/cpu-fair/collect.py SOURCE_RUNS_DIR")
    runs, choices = collect(Path(sys.argv[1]))
    finished = update_status(HERE.parent / "README.md")
    print(f"copied {runs} runs and {choices} lr choices; README status: {finished} finished")
