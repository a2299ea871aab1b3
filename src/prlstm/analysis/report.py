"""Tables (Markdown) and plots (PNG) of :func:`prlstm.analysis.pipeline.analyze`'s numbers,
and :func:`write_analysis`, which writes them with ``analysis.json`` into one directory."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from prlstm.analysis.pipeline import analyze
from prlstm.experiments.run.io import (
    atomic_write,
    atomic_write_file,
    ensure_writable_dir,
    write_json,
)
from prlstm.naming import file_in


def _pm(stats: dict[str, float], scale: float = 100.0) -> str:
    digits = 1 if scale == 100.0 else 3
    return (f"{scale * stats['mean']:.{digits}f} ± {scale * stats['std']:.{digits}f} "
            f"(n={stats['n']})")


def _stats(values: list[float]) -> dict[str, float]:
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def budget_lines(data: dict[str, Any]) -> list[str]:
    b = data["budget"]
    steps = "; ".join(f"{m} {'/'.join(map(str, s))}" for m, s in b["steps"].items())
    return [f"Budget: preset {', '.join(b['presets'])}; training steps {steps}; seeds "
            f"{', '.join(map(str, b['seeds']))}; H={', '.join(map(str, b['hidden_size']))}; "
            f"trained on {', '.join(b['train_devices'])}; {b['runs']} runs "
            f"({b['probed_runs']} with saved weights probed); test set "
            f"{'/'.join(map(str, b['eval_per_length']))} sequences per length."]


def merge_markdown(data: dict[str, Any]) -> str:
    lines = ["| task | model | merge | R | schedule | seeds | score % | in-range accuracy % |",
             "|---|---|---|---|---|---|---|---|"]
    for r in data["merge_table"]:
        lines.append(f"| {r['task']} | {r['model']} | {r.get('merge', '–')} | "
                     f"{r.get('refinements', '–')} | {r.get('schedule', '–')} | "
                     f"{','.join(map(str, r['seeds']))} | {_pm(r['score'])} | "
                     f"{_pm(r['in_range_accuracy'])} |")
    return "\n".join(lines)


def probe_markdown(data: dict[str, Any]) -> str:
    buckets = data["settings"]["buckets"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for p in data["probe"]:
        groups[(p["task"], p["model"], p["trained"])].append(p)
    lines = ["| task | model | weights | " + " | ".join(buckets) + " |",
             "|---|---|---|" + "---|" * len(buckets)]
    for (task, model, trained), ps in sorted(groups.items(), key=lambda kv: (kv[0][0],
                                             kv[0][1], not kv[0][2])):
        cells = [_pm(_stats([p["buckets"][b] for p in ps])) for b in buckets]
        lines.append(f"| {task} | {model} | {'trained' if trained else 'untrained'} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def cka_markdown(data: dict[str, Any], kind: str = "linear") -> str:
    buckets = data["settings"]["buckets"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in data["cka"]:
        groups[(c["task"], c["comparison"])].append(c)
    lines = ["| task | comparison | " + " | ".join(buckets) + " |",
             "|---|---|" + "---|" * len(buckets)]
    for (task, comp), cs in sorted(groups.items()):
        cells = [_pm(_stats([c[kind].get(b, float("nan")) for c in cs]), 1.0) for b in buckets]
        lines.append(f"| {task} | {comp} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    return "\n\n".join([
        "# Merge variants, probes and state similarity", *budget_lines(data),
        "## Merge variants (score over test lengths 41..500, in-range accuracy over 1..40)",
        "Cells: mean ± sample std over seeds, in %.", merge_markdown(data),
        "## Probe accuracy of the automaton state per position bucket",
        f"Logistic regression (scikit-learn, standardised, random_state={s['seed']}) fit on "
        f"{s['probe_fit_positions']}, scored on {s['probe_test']}; test set: the "
        f"{s['num_lengths']} longest lengths of the fixed evaluation set. Cells: mean ± std "
        "over seeds, in %. Labels (docs/experiments.md#probing-the-automaton-state): "
        "parity_check, ones so far mod 2; "
        "cycle_navigation, position on the 5-cycle; even_pairs, (first, current) symbol; "
        "modular_arithmetic — our definition, from the task's own left-to-right evaluation "
        "order — the value mod 5 of the longest prefix that is a complete expression.",
        probe_markdown(data),
        "## Linear CKA per position bucket", "Cells: mean ± std over the pairs (n = pairs).",
        cka_markdown(data, "linear"),
        "## Unbiased minibatch CKA (Nguyen et al. 2021, batches of 1024) per bucket",
        cka_markdown(data, "minibatch"),
    ]) + "\n"


def _centre(name: str) -> float:
    lo, hi = name.strip("[)").split(",")
    return (int(lo) + int(hi) - 1) / 2


def _plot(task: str, series: dict[str, list[dict[str, float]]], ylabel: str, path: Path,
          fit_end: int) -> None:
    from prlstm.experiments.reporting.plots import _pyplot  # matplotlib only when plotting

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.axvspan(0, fit_end, color="0.88", label=f"training range t < {fit_end}")
    for label, runs in sorted(series.items()):
        names = sorted({k for r in runs for k in r}, key=_centre)
        xs = [_centre(n) for n in names]
        vals = [[r[n] for r in runs if n in r] for n in names]
        mean = [statistics.fmean(v) for v in vals]
        line, = ax.plot(xs, mean, marker=".", label=f"{label} (n={len(runs)})")
        ax.fill_between(xs, [min(v) for v in vals], [max(v) for v in vals], alpha=0.15,
                        color=line.get_color())
    ax.set(xlabel="position t", ylabel=ylabel, title=task, ylim=(-0.02, 1.02))
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    atomic_write_file(path, lambda name: fig.savefig(name, format="png", dpi=110))
    plt.close(fig)


def write_plots(data: dict[str, Any], out: Path) -> list[Path]:
    """``probe_<task>.png`` and ``cka_<task>.png`` against position (mean, min–max band)."""
    written = []
    for task, info in data["test_sets"].items():
        probe: dict[str, list] = defaultdict(list)
        for p in data["probe"]:
            if p["task"] == task:
                probe[f"{p['model']} {'trained' if p['trained'] else 'untrained'}"].append(
                    p["bins"])
        cka: dict[str, list] = defaultdict(list)
        for c in data["cka"]:
            if c["task"] == task:
                cka[c["comparison"]].append(c["bins"])
        for name, series, ylabel in (("probe", probe, "probe accuracy (held-out sequences)"),
                                     ("cka", cka, "linear CKA")):
            path = file_in(out, f"{name}_", task, ".png")  # task names come from files
            _plot(task, series, ylabel, path, info["probe_fit_end"])
            written.append(path)
    return written


def write_analysis(runs_dir: str | Path, out_dir: str | Path, *, plots: bool = True,
                   **options: Any) -> tuple[str, list[Path]]:
    """Run :func:`analyze` and write ``analysis.json``, ``analysis.md`` (and the plots)."""
    data = analyze(runs_dir, **options)
    out = ensure_writable_dir(out_dir)
    text = markdown(data)
    write_json(out / "analysis.json", data)
    atomic_write(out / "analysis.md", lambda f: f.write(text))
    written = [out / "analysis.json", out / "analysis.md"]
    if plots:
        written += write_plots(data, out)
    return text, written
