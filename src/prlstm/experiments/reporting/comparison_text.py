"""The words and Markdown of a fair comparison: the report's section and the README summary.

:func:`render` writes the report's "fair comparison" section from the numbers of
:func:`~prlstm.experiments.reporting.comparison.comparison_data` (``comparison.json``): a table
per task, the lr choice table, the pairs against the reference, and a generated footnote. The
small helpers (verdicts, times, lr and edge wording) are shared with
:mod:`~prlstm.experiments.reporting.summary`. Names read from result files are escaped.
"""

from __future__ import annotations

from typing import Any

from prlstm.experiments.orchestrate.tuning import EDGE_CHECK_FILE, edge_side

DASH = "–"
_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "[": "\\[", "]": "\\]",
            "&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}


def escape(text: object) -> str:
    """``text`` safe inside a Markdown table cell: pipes, backticks, emphasis and link marks
    are backslash-escaped, ``& < >`` become HTML entities and line breaks spaces."""
    return "".join(_ESCAPES.get(ch, ch) for ch in str(text))


def lr_text(lr: float) -> str:
    """``1e-3`` for 0.001, ``3e-4`` for 0.0003, ``0.01`` for 0.01."""
    if lr >= 0.01 or lr <= 0:
        return f"{lr:g}"
    mantissa, exponent = f"{lr:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def reference_higher(pair: dict[str, Any]) -> bool:
    """Whether the reference did better in ``pair``: by mean score, else (equal means, or a
    file from before the means were saved) by solves."""
    ref, other = pair.get("mean_reference"), pair.get("mean_other")
    if ref is None or other is None or ref == other:
        ref, other = pair["solves_reference"], pair["solves_other"]
    return ref > other


def neither_solved(pair: dict[str, Any]) -> bool:
    """Whether neither side of ``pair`` solved a run (a difference is then in how they fail)."""
    return pair["solves_reference"] == pair["solves_other"] == 0


def short_verdict(pair: dict[str, Any]) -> str:
    """The verdict of a pair in a few words: ``distinguishable, reference higher`` / ``lower``
    (by mean score, else by solves), ``not distinguishable``, or ``too few runs to tell`` where
    no outcome at these numbers of runs could have been distinguishable. A difference between
    two variants that solved no run adds ``(neither solved a run)``: it is a difference in how
    they fail, not in what generalises. One that does not survive Holm's correction over all
    the report's pairs (``survives_holm`` false) adds ``; not after Holm``."""
    if pair["distinguishable"]:
        neither = (" (neither solved a run)"
                   if neither_solved(pair) else "")
        holm = "; not after Holm" if pair.get("survives_holm") is False else ""
        side = "higher" if reference_higher(pair) else "lower"
        return f"distinguishable, reference {side}{neither}{holm}"
    return "not distinguishable" if pair["attainable"] else "too few runs to tell"


def seconds_text(value: float | None) -> str:
    """``8.5 s`` / ``124 s`` / ``–``."""
    return DASH if value is None else f"{value:.{1 if value < 10 else 0}f} s"


def generalise_cell_text(cell: dict[str, Any]) -> str:
    """``step 4 (7/8) · 2.0 s``: median steps to generalise and the wall clock at that step
    (``never (0/8)`` when no run got there; ``–`` for a cell without runs)."""
    gen = cell.get("generalise")
    if not gen:
        return DASH
    seconds = f" · {seconds_text(gen['median_seconds'])}" if gen["reached"] else ""
    return f"{gen['text']}{seconds}"


def _lr_cell(c: dict[str, Any]) -> str:
    """``1e-3 of {3e-4, 1e-3}`` with a choice, else the runs' lrs marked untuned."""
    lr = c["lr"]
    if lr["chosen"] is not None:
        grid = ", ".join(lr_text(x) for x in lr["grid"])
        return f"{lr_text(lr['chosen'])} of {{{grid}}}"
    text = ", ".join(lr_text(x) for x in lr["run_lrs"]) or DASH
    return text + (" (pooled, untuned)" if len(lr["run_lrs"]) > 1 else " (untuned)")


def _row(c: dict[str, Any]) -> str:
    """A table row of one cell (its name escaped)."""
    params = "/".join(f"{p:,}" for p in c["parameters"]) or DASH
    steps = "/".join(str(s) for s in c["steps"]) or DASH
    head = (f"| {escape(c['variant'])}{' (incomplete)' if c['incomplete'] else ''} | {params} "
            f"| {steps} | {_lr_cell(c)} | {c['n']} |")
    if not c["n"]:
        return head + " no scored run at the chosen lr | | | |"
    lo, hi = (100 * x for x in c["solve_ci"])
    mlo, mhi = (100 * x for x in c["mean_ci"])
    cpu_s = c.get("median_train_cpu_seconds")
    cpu = "" if cpu_s is None else f" (CPU {seconds_text(cpu_s)})"
    return (f"{head} {c['solves']}/{c['n']} ({lo:.0f}–{hi:.0f} %) | {100 * c['mean']:.1f} "
            f"({mlo:.1f}–{mhi:.1f}) | {seconds_text(c['median_train_seconds'])}{cpu} | "
            f"{generalise_cell_text(c)} |")


def _pair_row(p: dict[str, Any]) -> str:
    """A table row of one pair (the other variant's name escaped)."""
    holm = p.get("holm_p")
    return (f"| {escape(p['other'])} | {escape(p['reference'])} | "
            f"{p['n_reference']} vs {p['n_other']} | "
            f"{p['solves_reference']} vs {p['solves_other']} | {p['fisher_p']:.2g} | "
            f"{p['permutation_p']:.2g} | {DASH if holm is None else f'{holm:.2g}'} | "
            f"{short_verdict(p)} |")


def edge_note(cells: list[dict[str, Any]], check: dict[str, Any] | None = None) -> str:
    """A sentence on the cells whose chosen lr is an end of their grid and strictly better than
    every other lr there (their best lr may lie outside the grid); "" when there is none.
    ``check``: the counts of an edge check (``edge_check`` of :func:`comparison_data`)."""
    sides = [edge_side({v["lr"]: v["mean"] for v in c["lr"].get("validation") or ()},
                       c["lr"]["chosen"]) for c in cells]
    top, bottom = sides.count("top"), sides.count("bottom")
    if not top and not bottom:
        return ""
    text = (f"{top} of {len(cells)} cells chose the largest lr of their grid and {bottom} the "
            "smallest, strictly better there than at every other lr: their best lr may lie "
            "outside the grid.")
    if check and check.get("finished"):
        text += (f" An edge check (`{EDGE_CHECK_FILE}`: the tuning seed again at the next "
                 "half-decade outward, validation only) found that the outward lr would have "
                 f"been chosen in {check['outward_wins']} of the {check['finished']} edge cells "
                 "it checked; the choices were kept.")
    return text


def _choice_table(cells: list[dict[str, Any]]) -> list[str]:
    """Each tuned cell's mean final validation score at every lr of its grid (the chosen one
    bold); no lines when no cell of ``cells`` has a readable choice file."""
    tuned = [c for c in cells if c["lr"].get("validation")]
    if not tuned:
        return []
    lrs = sorted({v["lr"] for c in tuned for v in c["lr"]["validation"]})
    seeds = sorted({s for c in tuned for s in c["lr"]["tuning_seeds"] or ()})
    lines = [f"Learning-rate choice: mean final validation score (%) over the tuning seed(s) "
             f"{', '.join(str(s) for s in seeds)}; bold: chosen (best mean, ties to the "
             "smaller lr).", "",
             "| Variant | " + " | ".join(lr_text(lr) for lr in lrs) + " |",
             "|---|" + "---|" * len(lrs)]
    for c in tuned:
        means = {v["lr"]: v["mean"] for v in c["lr"]["validation"]}
        row = []
        for lr in lrs:
            value = means.get(lr, "absent")
            text = ("" if value == "absent" else DASH if value is None
                    else f"{100 * value:.1f}")
            row.append(f"**{text}**" if text and lr == c["lr"]["chosen"] else text)
        lines.append(f"| {escape(c['variant'])} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _footnote(data: dict[str, Any]) -> list[str]:
    """What the numbers above can and cannot show, generated from them."""
    cells, usual = data["cells"], data["usual_n"]
    notes = [f"Solved: score ≥ {100 * data['threshold']:.0f} %. Intervals are 95 %: Wilson "
             "for the solve rate, percentile bootstrap for the mean; they describe these seeds "
             "at this budget and these test lengths, not other sizes, budgets or lengths."]
    incomplete = [c for c in cells if c["incomplete"]]
    if incomplete:
        notes.append(f"Incomplete (fewer than the usual n = {usual} runs): " + ", ".join(
            f"{escape(c['task'])} / {escape(c['variant'])} (n = {c['n']})" for c in incomplete)
            + ".")
    untuned = [c for c in cells if c["lr"]["chosen"] is None]
    pooled = [c for c in untuned if len(c["lr"]["run_lrs"]) > 1]
    if untuned:
        notes.append(f"{len(untuned)} of {len(cells)} cells have no lr choice file (tuning/ "
                     "under the results directory or its parent): their lr was not chosen on "
                     "validation" + (f", and {len(pooled)} pool runs at several lrs."
                                     if pooled else "."))
    if unreadable := sum(c["lr"]["unreadable"] is not None for c in cells):
        notes.append(f"{unreadable} choice files could not be read (see comparison.json); "
                     "those cells use all their runs.")
    if edges := edge_note(cells, data.get("edge_check")):
        notes.append(edges)
    if reused := sum(s in (c["lr"]["tuning_seeds"] or ()) for c in cells for s in c["seeds"]):
        notes.append(f"{reused} runs here are at a tuning seed and the chosen lr (likely the "
                     "tuning runs): their validation scores, never test scores, picked that lr.")
    if excluded := sum(c["excluded"] for c in cells):
        notes.append(f"{excluded} runs at non-chosen learning rates are left out.")
    if unscored := sum(c["unscored"] for c in cells):
        notes.append(f"{unscored} runs with no finite score are left out.")
    notes += _pair_notes(data) + _size_notes(cells)
    return ["**What this can and cannot show.**", "", *(f"* {n}" for n in notes)]


def _pair_notes(data: dict[str, Any]) -> list[str]:
    """Tasks without pairs, the per-pair α, and the numbers of runs too small to tell."""
    cells, pairs, notes = data["cells"], data["pairs"], []
    refs = {c["task"] for c in cells if c["variant"] == data["reference"] and c["n"]}
    if missing := [t for t in dict.fromkeys(c["task"] for c in cells) if t not in refs]:
        notes.append(f"No pairs on {', '.join(escape(t) for t in missing)}: the reference "
                     "has no scored run there.")
    if pairs:
        notes.append(f"Each pair ({len(pairs)} here) is tested at α = 0.05 on its own (both "
                     "tests two-sided, Bonferroni over the two: distinguishable when the "
                     "smaller p-value is below 0.025); higher / lower compares the mean "
                     "scores. Holm p corrects for testing all of them: Holm's step-down "
                     f"adjustment over the {len(pairs)} pairs of the report (each pair's p "
                     "being twice its smaller p-value); 'not after Holm' marks a distinguishable "
                     "pair whose Holm p is 0.05 or more.")
    futile = sorted({f"{p['n_reference']} vs {p['n_other']}" for p in pairs
                     if not p["attainable"]})
    if futile:
        notes.append(f"At n = {', '.join(futile)} no outcome could be distinguishable, "
                     "hence 'too few runs to tell': it says nothing about the models.")
    return notes


def _size_notes(cells: list[dict[str, Any]]) -> list[str]:
    """Tasks whose variants differ in size (> 10 %) or in training steps."""
    notes = []
    for task in dict.fromkeys(c["task"] for c in cells):
        sizes = [p for c in cells if c["task"] == task for p in c["parameters"]]
        steps = {s for c in cells if c["task"] == task for s in c["steps"]}
        if sizes and max(sizes) > 1.1 * min(sizes):
            notes.append(f"{escape(task)}: parameter counts range {min(sizes):,}–"
                         f"{max(sizes):,}, so the variants are not size-matched.")
        if len(steps) > 1:
            notes.append(f"{escape(task)}: training steps differ ({min(steps)}–{max(steps)}): "
                         "a comparison at these budgets, not at equal budgets.")
    return notes


def render(data: dict[str, Any]) -> str:
    """The Markdown section for :func:`comparison_data`'s numbers."""
    ref = data["reference"]
    lines = ["## Fair comparison", "",
             "Runs at the lr chosen on validation where a choice was recorded; pairs against "
             f"{escape(ref) if ref else DASH} (or its model's variant nearest in size). "
             "Times: training seconds without validation or "
             "warm-up, wall-clock and (where recorded) the training process's CPU seconds, "
             "which other jobs on the machine do not inflate (to generalise: the log's "
             "wall clock at that step, median).", ""]
    for task in dict.fromkeys(c["task"] for c in data["cells"]):
        lines += [f"### {escape(task)}", "",
                  "| Variant | Parameters | Steps | lr | n | Solved k/n (95 % CI) | "
                  "Mean score % (95 % CI) | Median train time | Steps to generalise · time |",
                  "|---|---|---|---|---|---|---|---|---|",
                  *(_row(c) for c in data["cells"] if c["task"] == task), "",
                  *_choice_table([c for c in data["cells"] if c["task"] == task])]
        pairs = [p for p in data["pairs"] if p["task"] == task]
        if pairs:
            lines += [f"Each other variant against {escape(ref)} or, where another variant of "
                      "its model is nearer to it in parameter count, against that one (n, "
                      "solves: reference vs other):", "",
                      "| Variant | Against | n | Solves | Fisher p | Permutation p | Holm p | "
                      "Verdict |",
                      "|---|---|---|---|---|---|---|---|", *(_pair_row(p) for p in pairs), ""]
    return "\n".join([*lines, *_footnote(data)]) + "\n"
