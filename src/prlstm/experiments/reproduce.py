"""``prlstm reproduce RUN_DIR``: re-train a saved run from its ``config.json`` and compare.

A committed result promises that its saved config alone re-trains to the same numbers: same
score, same accuracy at every length, same training log (wall-clock column aside). Training on
the CPU is deterministic for a fixed torch build, thread count and CPU kernel level (the
``cpu_capability`` a result records: AVX2 and AVX512 kernels round differently, so a run
trained on one can drift from one trained on the other in the last digits and, for chaotic runs,
in the score).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import RESULT_FILE, evaluate_run
from prlstm.experiments.io import read_json
from prlstm.experiments.train import CONFIG_FILE, train
from prlstm.experiments.trainlog import read_rows


@dataclass(frozen=True)
class Reproduction:
    """What re-training gave against what was saved."""

    saved: dict[str, Any]
    again: dict[str, Any]
    mismatches: list[str]

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


def reproduce(run_dir: str | Path, work_dir: str | Path | None = None, *,
              progress: bool | None = False) -> Reproduction:
    """Re-train ``run_dir``'s config in ``work_dir`` (a temporary directory by default),
    evaluate it, and list every difference from the saved ``result.json`` and log.

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json`` or ``result.json``.
    """
    root = Path(run_dir)
    for name in (CONFIG_FILE, RESULT_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name} not found: reproduce needs a finished run")
    config = RunConfig.from_dict(read_json(root / CONFIG_FILE))
    saved = read_json(root / RESULT_FILE)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        again_dir = Path(tmp) / "run"
        train(config, again_dir, progress=progress)
        again = evaluate_run(again_dir, progress=progress)
        same_log = _same(_log_rows(root), _log_rows(again_dir))
    mismatches = [key for key in ("score", "accuracy", "in_range_accuracy", "steps_to_generalise")
                  if key in saved and saved[key] != again.get(key)]
    if not same_log:
        mismatches.append("train_log.csv")
    return Reproduction(saved, again, mismatches)


def describe(rep: Reproduction) -> str:
    """A human-readable verdict."""
    score = f"score {100 * rep.again['score']:.2f}% (saved {100 * rep.saved['score']:.2f}%)"
    if rep.exact:
        return f"reproduced exactly: {score}, every length and log row identical"
    lines = [f"NOT reproduced: {score}; differs in {', '.join(rep.mismatches)}"]
    for key, now in (("cpu_capability", torch.backends.cpu.get_cpu_capability()),
                     ("torch_version", torch.__version__)):
        before = rep.saved.get(key)
        if before is not None and before != now:
            lines.append(f"  saved run had {key}={before}, this machine has {now}")
    return "\n".join(lines)
