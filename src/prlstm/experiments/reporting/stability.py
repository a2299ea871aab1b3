"""End-of-training stability: does the final step land in a loss spike?

The protocol evaluates the *final* weights, so a loss spike in the last logged windows can turn
a run that had generalised into a failure (seen in results/loss_spikes.md). This module reads
a run's ``train_log.csv`` and summarises its last quarter: the final window's training accuracy
against the best window of the last quarter, the number of window-to-window drops of more than
``drop`` (accuracy points), the largest pre-clipping gradient norm, and the validation score at
the end against the best one seen. ``python -m prlstm.experiments.reporting.stability DIR ...``
prints a Markdown table for every run under the given results directories.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.run.trainlog import read_rows


def summarise(run_dir: str | Path, drop: float = 0.05) -> dict[str, Any] | None:
    """Stability figures of one run's log (None when it has fewer than 4 rows).

    ``final_in_spike`` is True when the final window's training accuracy is more than ``drop``
    below the best window of the last quarter of the log.
    """
    rows = read_rows(run_dir)
    if len(rows) < 4:
        return None
    tail = rows[(3 * len(rows)) // 4:]
    best = max(r.accuracy for r in tail)
    drops = sum(1 for a, b in zip(tail, tail[1:], strict=False)
                if a.accuracy - b.accuracy > drop)
    norms = [r.grad_norm_max for r in rows if not math.isnan(r.grad_norm_max)]
    vals = [r.val_score for r in rows if not math.isnan(r.val_score)]
    return {"final_accuracy": rows[-1].accuracy, "best_last_quarter": best, "drops": drops,
            "final_in_spike": rows[-1].accuracy < best - drop,
            "max_grad_norm": max(norms) if norms else math.nan,
            "final_val": vals[-1] if vals else math.nan,
            "best_val": max(vals) if vals else math.nan}


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def markdown(results_dirs: list[str | Path], drop: float = 0.05) -> str:
    """A Markdown table with one row per run found under ``results_dirs``."""
    lines = ["| run | lr decay | score | final train acc | best train acc (last 1/4) | "
             f"drops > {100 * drop:.0f} pts (last 1/4) | final in spike | max grad norm | "
             "final / best val |", "|---|---|---|---|---|---|---|---|---|"]
    spikes = total = 0
    for results_dir in results_dirs:
        for result in load_results(results_dir):
            summary = summarise(result["run_dir"], drop)
            if summary is None:
                continue
            total += 1
            spikes += summary["final_in_spike"]
            decay = result.get("config", {}).get("lr_decay_fraction", 0.0)
            norm = summary["max_grad_norm"]
            lines.append(
                f"| {result['run_id']} | {decay:g} | {_pct(result['score'])} | "
                f"{_pct(summary['final_accuracy'])} | {_pct(summary['best_last_quarter'])} | "
                f"{summary['drops']} | {'yes' if summary['final_in_spike'] else 'no'} | "
                f"{'–' if math.isnan(norm) else f'{norm:.1f}'} | "
                f"{_pct(summary['final_val'])} / {_pct(summary['best_val'])} |")
    lines.append("")
    lines.append(f"Final window in a spike: {spikes} of {total} runs.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the stability table for the results directories in ``argv``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m prlstm.experiments.reporting.stability RESULTS_DIR [...]",
              file=sys.stderr)
        return 2
    print(markdown(args), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
