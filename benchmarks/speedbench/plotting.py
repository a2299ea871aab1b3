"""The PNG of a ``speed.py`` JSON: forward time, forward memory, training memory vs T."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(payload: dict[str, Any], path: Path) -> None:
    """Time and peak memory vs length (one line per model and dtype), and train memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    curves: dict[str, list[dict]] = {}
    for r in payload.get("inference", []):
        if r.get("ms"):
            curves.setdefault(f"{r['model']} {r['dtype']}", []).append(r)
    for label, rs in sorted(curves.items()):
        axes[0].plot([r["T"] for r in rs], [r["ms"] for r in rs], marker="o", ms=3, label=label)
        mem = [(r["T"], r["peak_bytes"] / 2**20) for r in rs if r.get("peak_bytes")]
        if mem:
            axes[1].plot(*zip(*mem, strict=True), marker="o", ms=3, label=label)
    tm: dict[str, list[dict]] = {}
    for r in payload.get("train_memory", []):
        if r.get("peak_bytes"):
            tm.setdefault(f"{r['model']} {r['dtype']}", []).append(r)
    for label, rs in sorted(tm.items()):
        axes[2].plot([r["T"] for r in rs], [r["peak_bytes"] / 2**20 for r in rs], marker="o",
                     ms=3, label=label)
    cfg = payload["config"]
    titles = (f"forward time, B={cfg['batch']} ({cfg['device_name']})",
              "forward peak memory (reset per point)",
              f"training peak memory, B={cfg['train_memory_batch']}")
    ylabels = ("ms per pass", "MiB", "MiB")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel=ylabel,
               title=title)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
