"""Bits-per-character table and learning curves from finished ``prlstm lm train`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prlstm.experiments.io import ensure_writable_dir, read_csv, read_json, write_json


def write_lm_report(run_dirs: list[str], out_dir: str) -> Path:
    """Write ``table.md``, ``summary.json`` and ``learning_curves.png`` (if matplotlib)."""
    runs: list[dict[str, Any]] = []
    for d in run_dirs:
        if not (Path(d) / "summary.json").is_file():
            raise FileNotFoundError(f"{d} has no summary.json (train it first)")
        s = read_json(Path(d) / "summary.json")
        s["curve"] = [{k: float(v) for k, v in r.items()} for r in read_csv(Path(d) / "log.csv")]
        runs.append(s)
    out = ensure_writable_dir(out_dir)
    steps = sorted({r["steps"] for r in runs})
    c = runs[0]["config"]
    lines = [
        f"Budget: {', '.join(str(s) for s in steps)} steps each, batch {c['batch']} x "
        f"{c['seq_len']} bytes, AdamW lr {c['lr']} (warm-up {c['warmup']}, cosine to 10 %), "
        f"seed {c['seed']}, 1 run per model, CPU, {runs[0]['torch_threads']} torch thread.",
        f"Corpus: {', '.join(c['files'])}: {runs[0]['train_files']} training files "
        f"({runs[0]['train_bytes']:,} bytes), {runs[0]['val_files']} validation files "
        f"({runs[0]['val_bytes']:,} bytes), split by file; val bpc on "
        f"{runs[0]['val_chars_scored']:,} fixed validation bytes.",
        "",
        "| model | parameters | steps | val bits/char | CPU s | CPU s/step |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: r["val_bpc"]):
        lines.append(f"| {r['model']} | {r['params']:,} | {r['steps']} | {r['val_bpc']:.3f} | "
                     f"{r['cpu_s']:.0f} | {r['cpu_s'] / r['steps']:.3f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_json(out / "summary.json", runs)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return out
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        ax.plot([p["step"] for p in r["curve"]], [p["val_bpc"] for p in r["curve"]],
                label=f"{r['model']} ({r['params'] / 1e3:.0f}k params)")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation bits per character")
    ax.set_ylim(top=min(8.5, max(p["val_bpc"] for r in runs for p in r["curve"][1:] or
                                  r["curve"]) + 0.2))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("char-level LM on Python stdlib sources")
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=120)
    plt.close(fig)
    return out
