"""A short per-task summary of a fair comparison, for a README, from ``comparison.json``.

One table per task: every variant's parameters, steps, chosen lr, solve count with its Wilson
interval, runs that fitted their training range, mean score with its bootstrap interval,
median training time, steps (and seconds) to generalise, and — against the reference variant,
or its model's variant nearest in size — the Fisher and permutation p-values, the
Holm-adjusted p over all the pairs, and the verdict.
The README quotes this block verbatim between ``<!-- summary:begin FILE -->`` and
``<!-- summary:end -->`` markers, and a test re-renders it from the committed
``comparison.json``, so a number there cannot drift from its data::

    python -m prlstm.experiments.reporting.summary results/cpu-fair/report/comparison.json
    python -m prlstm.experiments.reporting.summary results/cpu-fair/report/comparison.json \\
        --into README.md    # fills the README's block for that file

``--overview`` renders instead one compact table, a row per variant and a column per task
(solves with their interval, fitted runs, and a mark where the pair is distinguishable after
Holm), quoted between ``<!-- overview:begin FILE -->`` and ``<!-- overview:end -->``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.comparison_text import (
    DASH,
    edge_note,
    escape,
    generalise_cell_text,
    lr_text,
    neither_solved,
    reference_higher,
    seconds_text,
    short_verdict,
)
from prlstm.experiments.run.io import atomic_write, read_json, sealed

BEGIN, END = "<!-- {kind}:begin {source} -->", "<!-- {kind}:end -->"
KINDS = ("summary", "overview")  # the blocks: render_summary's, render_overview's


def _interval(low: float, high: float, digits: int) -> str:
    return f"{100 * low:.{digits}f}–{100 * high:.{digits}f}"


def _solved(cell: dict[str, Any]) -> str:
    """``6/8 (41–93 %)``: solves of the runs with the Wilson interval."""
    return f"{cell['solves']}/{cell['n']} ({_interval(*cell['solve_ci'], 0)} %)"


def _time(cell: dict[str, Any]) -> str:
    """Median training seconds, wall-clock (and CPU where recorded)."""
    cpu = cell.get("median_train_cpu_seconds")
    return seconds_text(cell.get("median_train_seconds")) + ("" if cpu is None
                                                        else f" ({seconds_text(cpu)} CPU)")


def _row(cell: dict[str, Any], pair: dict[str, Any] | None, reference: str) -> str:
    params = "/".join(f"{p:,}" for p in cell["parameters"]) or DASH
    steps = "/".join(str(s) for s in cell["steps"]) or DASH
    chosen = cell["lr"]["chosen"]
    lr = lr_text(chosen) if chosen is not None else "untuned"
    head = f"| {escape(cell['variant'])} | {params} | {steps} | {lr} |"
    if not cell["n"]:
        return f"{head} no run | | | | | |"
    solved = _solved(cell)
    fitted = f"{cell['fitted']}/{cell['fit_known']}" if cell.get("fit_known") else DASH
    mean = f"{100 * cell['mean']:.1f} ({_interval(*cell['mean_ci'], 1)})"
    if pair is None:
        versus = "reference"
    else:
        holm = pair.get("holm_p")
        against = "" if pair["reference"] == reference else f"vs {escape(pair['reference'])}: "
        versus = (f"{against}{pair['fisher_p']:.2g} / {pair['permutation_p']:.2g}"
                  f"{'' if holm is None else f' · Holm {holm:.2g}'}: {short_verdict(pair)}")
    return (f"{head} {solved} | {fitted} | {mean} | {_time(cell)} | "
            f"{generalise_cell_text(cell)} | {versus} |")


def _settings(cells: list[dict[str, Any]]) -> str:
    """Each variant's hyper-parameters that its name does not show (``hparams`` of the cells;
    a setting that differs between tasks is left out)."""
    shown: dict[str, dict[str, Any]] = {}
    for c in cells:
        h = c.get("hparams") or {}
        seen = shown.setdefault(c["variant"], dict(h))
        for k in list(seen):
            if k not in h or h[k] != seen[k]:
                del seen[k]
    parts = []
    for label, h in shown.items():
        extra = [f"{k}={v}" for k, v in sorted(h.items()) if f"{k}={v}" not in label.split()]
        if extra:
            parts.append(f"{escape(label)}: {escape(', '.join(extra))}")
    return ("Settings not in the names: " + "; ".join(parts) + ".") if parts else ""


def verdict_line(task_pairs: list[dict[str, Any]], reference: str | None = None) -> str:
    """One task's pairs grouped by what survives: ``Distinguishable after Holm: lstm (reference
    higher). Distinguishable only before Holm: rnn. Not distinguishable: mamba, mlstm.`` (empty
    without pairs); a pair against another variant than ``reference`` names it (``lstm vs
    pr_lstm hidden_size=69``)."""
    groups: dict[str, list[str]] = {"after": [], "before": [], "not": [], "futile": []}
    for p in task_pairs:
        name = escape(p["other"])
        if reference is not None and p["reference"] != reference:
            name += f" vs {escape(p['reference'])}"
        if p["distinguishable"]:
            side = "higher" if reference_higher(p) else "lower"
            neither = ", neither solved a run" if neither_solved(p) else ""
            key = "before" if p.get("survives_holm") is False else "after"
            groups[key].append(f"{name} (reference {side}{neither})")
        else:
            groups["not" if p["attainable"] else "futile"].append(name)
    titles = {"after": "Distinguishable after Holm" if any("holm_p" in p for p in task_pairs)
              else "Distinguishable", "before": "Distinguishable only before Holm",
              "not": "Not distinguishable", "futile": "Too few runs to tell"}
    return " ".join(f"{titles[k]}: {', '.join(v)}." for k, v in groups.items() if v)


def budget_line(budget: dict[str, Any] | None) -> str:
    """``Budget: …`` from ``comparison.json``'s ``budget`` (empty for a file without one)."""
    if not budget:
        return ""
    parts = []
    if seeds := budget["seeds"]:
        parts.append(f"seeds {_ranges(seeds)}")
    if budget["batch_size"]:
        parts.append("batch " + "/".join(str(b) for b in budget["batch_size"]))
    grids = [", ".join(lr_text(x) for x in g) for g in budget["lr_grids"]]
    if budget["tuned_cells"]:
        tuning = _ranges(budget["tuning_seeds"]) if budget["tuning_seeds"] else DASH
        parts.append(f"lr of {budget['tuned_cells']} of {budget['cells']} cells chosen on "
                     f"validation from {{{'} / {'.join(grids)}}} with tuning seed(s) {tuning}")
    else:
        parts.append("lr not tuned")
    if budget["devices"]:
        parts.append("device " + ", ".join(budget["devices"]))
    if budget["torch"]:
        parts.append("torch " + ", ".join(budget["torch"]))
    if budget["cpu_pin"]:
        parts.append("CPU pin " + ", ".join(escape(p) for p in budget["cpu_pin"]))
    return "Budget: " + "; ".join(parts) + "; steps per task in the tables."


def _ranges(values: list[int]) -> str:
    """``0–7`` for 0..7, ``0, 2, 5–7`` for gaps."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def render_summary(data: dict[str, Any]) -> str:
    """The summary tables of ``data`` (the contents of a ``comparison.json``)."""
    pairs = {(p["task"], p["other"]): p for p in data["pairs"]}
    lines = [f"Reference: {escape(data['reference'])}. Solved: score ≥ "
             f"{100 * data['threshold']:.0f} %; intervals at {100 * data['confidence']:.0f} % "
             "(Wilson for solve rates, bootstrap for mean scores). Fitted: runs whose "
             "accuracy on the training lengths reached 90 %; a run that did not fit was not "
             "trained in this budget, so its failing beyond them says nothing about "
             "generalisation. Times are medians over the "
             "runs, wall-clock (which other load on the machine inflates) and, in brackets, "
             "the training process's CPU seconds (which it does not); against the reference "
             "(or, where another variant of its model is nearer in parameter count, that "
             "variant, named): Fisher p on solves / permutation p on scores, "
             "distinguishable when the smaller is below 0.025"
             + (f"; Holm: that pair's p adjusted over all {len(data['pairs'])} pairs "
                "(Holm–Bonferroni), 'not after Holm' where it is 0.05 or more"
                if any("holm_p" in p for p in data["pairs"]) else "") + ".", ""]
    if line := budget_line(data.get("budget")):
        lines += [line, ""]
    if settings := _settings(data["cells"]):
        lines += [settings, ""]
    if edges := edge_note(data["cells"], data.get("edge_check")):
        lines += [edges, ""]
    for task in dict.fromkeys(c["task"] for c in data["cells"]):
        lines += [f"**{escape(task)}**", "",
                  "| variant | parameters | steps | lr | solved k/n (CI) | fitted | "
                  "mean score % (CI) | train time | steps to generalise · time | "
                  "against the reference |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [_row(c, None if c["variant"] == data["reference"]
                       else pairs.get((task, c["variant"])), data["reference"])
                  for c in data["cells"] if c["task"] == task]
        if line := verdict_line([p for p in data["pairs"] if p["task"] == task],
                                data["reference"]):
            lines += ["", line]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _overview_cell(cell: dict[str, Any] | None, pair: dict[str, Any] | None) -> str:
    """``6/8 (41–93 %) · fit 7``, with ``↓`` / ``↑`` where ``pair`` is distinguishable after
    Holm (this variant below / above the one it is tested against)."""
    if cell is None or not cell["n"]:
        return "no run"
    text = _solved(cell)
    if cell.get("fit_known"):
        text += f" · fit {cell['fitted']}"
    if pair is not None and pair["distinguishable"] and pair.get("survives_holm") is not False:
        text += " ↓" if reference_higher(pair) else " ↑"
        if neither_solved(pair):
            text += "\\*"  # a difference in how two variants fail
    return text


def render_overview(data: dict[str, Any]) -> str:
    """One table for ``data`` (a ``comparison.json``): a row per variant (its parameter counts
    over the tasks and the variant it is tested against), a column per task."""
    tasks = list(dict.fromkeys(c["task"] for c in data["cells"]))
    variants = list(dict.fromkeys(c["variant"] for c in data["cells"]))
    cells = {(c["task"], c["variant"]): c for c in data["cells"]}
    pairs = {(p["task"], p["other"]): p for p in data["pairs"]}
    holm = any("holm_p" in p for p in data["pairs"])
    lines = [f"Solved: runs scoring ≥ {100 * data['threshold']:.0f} % beyond the training "
             f"lengths, k of n, with the Wilson {100 * data['confidence']:.0f} % interval; fit: "
             "runs whose accuracy on the training lengths reached 90 % (a run that did not fit "
             "was not trained in this budget); ↓ / ↑: below / above the variant in 'tested "
             "against', distinguishable (Fisher p on solves or permutation p on scores below "
             "0.025" + (f") after Holm's correction over all {len(data['pairs'])} pairs"
                        if holm else ")")
             + "; \\*: neither of the two solved a run, so the difference is in how they "
             "fail; no mark: not distinguishable" + (" after Holm" if holm else "") + ".", ""]
    if line := budget_line(data.get("budget")):
        lines += [line, ""]
    steps = {t: sorted({n for c in data["cells"] if c["task"] == t for n in c["steps"]})
             for t in tasks}
    heads = [escape(t) + (" · " + "/".join(f"{n:,}" for n in steps[t]) + " steps"
                          if steps[t] else "") for t in tasks]
    lines += ["| variant | parameters | tested against | " + " | ".join(heads) + " |",
              "|---|---|---|" + "---|" * len(tasks)]
    for v in variants:
        counts = [p for t in tasks if (t, v) in cells for p in cells[(t, v)]["parameters"]]
        params = (f"{min(counts):,}" if min(counts) == max(counts)
                  else f"{min(counts):,}–{max(counts):,}") if counts else DASH
        against = sorted({pairs[(t, v)]["reference"] for t in tasks if (t, v) in pairs})
        tested = "reference" if v == data["reference"] else (
            ", ".join(map(escape, against)) or DASH)
        row = [_overview_cell(cells.get((t, v)), pairs.get((t, v))) for t in tasks]
        lines.append(f"| {escape(v)} | {params} | {tested} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def quoted_block(text: str, source: str, kind: str = "summary") -> str | None:
    """The text between the ``kind`` markers (``summary`` or ``overview``) of ``source`` in
    ``text`` (None: no such block)."""
    begin = BEGIN.format(kind=kind, source=source)
    if begin not in text:
        return None
    start = text.index(begin) + len(begin)
    return text[start:text.index(END.format(kind=kind), start)].strip("\n") + "\n"


def replace_block(text: str, source: str, summary: str, kind: str = "summary") -> str:
    """``text`` with the block between ``source``'s ``kind`` markers replaced by ``summary``.

    Raises:
        ValueError: ``text`` has no such block (or its end marker is missing).
    """
    begin, end = BEGIN.format(kind=kind, source=source), END.format(kind=kind)
    if begin not in text:
        raise ValueError(f"no {begin} marker to fill")
    start = text.index(begin) + len(begin)
    stop = text.find(end, start)
    if stop < 0:
        raise ValueError(f"{begin} has no {end} after it")
    return f"{text[:start]}\n\n{summary.rstrip()}\n\n{text[stop:]}"


def main(argv: list[str] | None = None) -> int:
    """Print the summary of a ``comparison.json``, or with ``--into FILE`` write it between
    that file's markers for the JSON path as given (atomically; the rest of the file is
    kept)."""
    parser = argparse.ArgumentParser(
        prog="python -m prlstm.experiments.reporting.summary",
        description="the per-task summary tables of a fair comparison's comparison.json")
    parser.add_argument("comparison_json", help="a comparison.json written by prlstm report")
    parser.add_argument("--overview", action="store_true",
                        help="one compact table (a row per variant, a column per task) "
                        "instead of a table per task; --into then fills the overview markers")
    parser.add_argument("--into", metavar="MARKDOWN_FILE",
                        help="write the tables between this file's summary (or overview) "
                        "markers for COMPARISON_JSON instead of printing them")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    source = Path(args.comparison_json)
    try:
        data = read_json(source)
        if not sealed(data):
            raise ValueError("its digest is missing or does not match its contents (edited "
                             "or damaged); write it again with prlstm report")
        summary = (render_overview if args.overview else render_summary)(data)
    except OSError as err:
        print(f"summary: error: {source}: {err.strerror or err}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        why = err if isinstance(err, ValueError) else f"a field is missing or malformed ({err!r})"
        print(f"summary: error: {source}: not a comparison.json of prlstm report: {why}",
              file=sys.stderr)
        return 2
    if args.into is None:
        print(summary, end="")
        return 0
    target = Path(args.into)
    try:
        kind = "overview" if args.overview else "summary"
        text = replace_block(target.read_text(encoding="utf-8"), args.comparison_json, summary,
                             kind)
    except (OSError, ValueError) as err:
        print(f"summary: error: {target}: {err}", file=sys.stderr)
        return 2
    atomic_write(target, lambda f: f.write(text))
    print(f"wrote the {kind} of {args.comparison_json} into {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
