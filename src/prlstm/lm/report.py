"""Bits-per-character table and learning curves from finished ``prlstm lm train`` runs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prlstm.experiments.run.io import ensure_writable_dir, read_csv, read_json, write_json
from prlstm.lm.models import canonical_names


def _summary(run: Path) -> dict[str, Any]:
    """A run's ``summary.json``; for an unfinished run, rebuilt from its config and log."""
    if (run / "summary.json").is_file():
        return read_json(run / "summary.json")
    if not (run / "config.json").is_file() or not (run / "log.csv").is_file():
        raise FileNotFoundError(f"{run} is not a prlstm lm run (no config.json / log.csv)")

    from prlstm.lm.data import eval_windows, expand_files, load_corpus
    from prlstm.lm.models import CharLM, num_params
    from prlstm.lm.train import LMConfig

    cfg = LMConfig.from_dict(read_json(run / "config.json"))
    corpus = load_corpus(expand_files(cfg.files), cfg.val_fraction, cfg.seed)
    last = read_csv(run / "log.csv")[-1]
    params = num_params(CharLM(cfg.model_config()))
    return {"model": cfg.model, "params": params, "steps": int(last["step"]),
            "finished": int(last["step"]) == cfg.steps, "val_bpc": float(last["val_bpc"]),
            "cpu_s": float(last["cpu_s"]), "wall_s": float(last["wall_s"]),
            "train_files": len(corpus.train_files), "val_files": len(corpus.val_files),
            "train_bytes": corpus.train.numel(), "val_bytes": corpus.val.numel(),
            "val_chars_scored": eval_windows(corpus.val, cfg.eval_windows, cfg.seq_len)[1].numel(),
            "torch_threads": 1, "config": asdict(cfg)}  # the CLI trains with --threads 1


def write_lm_report(run_dirs: list[str], out_dir: str, at_step: int | None = None) -> Path:
    """Write ``table.md``, ``summary.json`` and ``learning_curves.png`` (if matplotlib).

    The table compares every run at the same step: ``at_step`` (default: the last step all
    runs have logged), read from each run's learning curve.
    """
    runs: list[dict[str, Any]] = []
    for d in run_dirs:
        s = _summary(Path(d))
        s["curve"] = [{k: float(v) for k, v in r.items()} for r in read_csv(Path(d) / "log.csv")]
        runs.append(s)
    out = ensure_writable_dir(out_dir)
    common = min(int(r["curve"][-1]["step"]) for r in runs)
    step = common if at_step is None else at_step
    for r in runs:
        hit = [p for p in r["curve"] if int(p["step"]) == step]
        if not hit:
            raise ValueError(f"run {r['model']} has no validation point at step {step} "
                             f"(--at-step must be a logged step <= {common})")
        r["at_step"] = {"step": step, **hit[0]}
    c = canonical_names(runs[0]["config"])  # saved by any version: older names too
    lines = [
        f"Budget: {step} training steps each (of {c['steps']} planned), batch {c['batch_size']} x "
        f"{c['seq_len']} bytes, AdamW lr {c['lr']} (warm-up {c['warmup']}, cosine to 10 %), "
        f"seed {c['seed']}, 1 run per model, CPU, {runs[0]['torch_threads']} torch thread.",
        f"Corpus: {', '.join(c['files'])}: {runs[0]['train_files']} training files "
        f"({runs[0]['train_bytes']:,} bytes), {runs[0]['val_files']} validation files "
        f"({runs[0]['val_bytes']:,} bytes), split by file; val bpc on "
        f"{runs[0]['val_chars_scored']:,} fixed validation bytes.",
        "",
        "| model | parameters | steps | val bits/char | train bits/char (last 100 steps) "
        "| CPU s | CPU s/step |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda r: r["at_step"]["val_bpc"]):
        a = r["at_step"]
        lines.append(f"| {r['model']} | {r['params']:,} | {step} | {a['val_bpc']:.3f} | "
                     f"{a['train_bpc']:.3f} | {a['cpu_s']:.0f} | {a['cpu_s'] / step:.3f} |")
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
    corpus = "Python stdlib *.py" if c["files"] == ["stdlib"] else ", ".join(c["files"])[:60]
    ax.set_title(f"char-level LM, validation files of {corpus}")
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=120)
    plt.close(fig)
    return out
