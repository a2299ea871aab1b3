"""Every figure of the README, recomputed from the committed files it comes from.

The README quotes the main job (``results/cpu/``): its table, the prose under it and the time
the job took. This module rebuilds each quoted number from the run files (``result.json``,
``train_log.csv``) and from ``main_job.log``, by its own arithmetic (it does not call the report
code, so a bug there cannot hide here), and fails when the README and the data disagree. The
test suite's running times and the pin's cost come from the JSON files of
``benchmarks/suite_time.py`` and ``benchmarks/pin_cost.py``.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "results" / "cpu" / "runs"
PINNED = ROOT / "results" / "cpu-pinned"
README = (ROOT / "README.md").read_text(encoding="utf-8")
MODELS = ("pr_lstm", "lstm", "transformer")
TASKS = ("parity_check", "cycle_navigation")
EXTRA = ("1000", "2000", "5000", "10000")


def _runs(task: str, model: str, root: Path = RUNS) -> list[dict]:
    files = sorted((root / task / model).glob("*/result.json"))
    assert files, f"no runs of {task}/{model} under {root}"
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def _section() -> str:
    start = README.index("## Results of the main job")
    return README[start:README.index("\n## ", start + 1)]


def _table() -> dict[str, list[str]]:
    """The README table's rows by their first cell (task rows and the rows under them)."""
    rows: dict[str, list[str]] = {}
    task = ""
    for line in _section().splitlines():
        if not line.startswith("| ") or line.startswith("| Task") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if ":" in cells[0]:
            task = cells[0].split(":")[0]
            rows[f"{task} score"] = cells[1:]
        else:
            rows[f"{task} {cells[0]}"] = cells[1:]
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _score_cell(runs: list[dict]) -> str:
    best = max(runs, key=lambda r: r["score"])
    head = _pct(best["score"])
    head = f"**{head}**" if best["score"] >= 0.9 else head
    head += "" if best["fitted"] else "†"
    fits = sum(r["fitted"] for r in runs)
    if len(runs) > 1:
        mean, std = _mean_std([r["score"] for r in runs])
        head += f" ({_pct(mean)} ± {_pct(std)})"
    return f"{head} · n={len(runs)} · fit {fits}/{len(runs)}"


def _generalise_cell(runs: list[dict]) -> str:
    in_range = [r["in_range_accuracy"] for r in runs]
    mean, std = _mean_std(in_range)
    text = _pct(mean) if len(set(in_range)) == 1 else f"{_pct(mean)} ± {_pct(std)}"
    steps = [r["steps_to_generalise"] for r in runs if r.get("steps_to_generalise") is not None]
    count = f" ({len(steps)}/{len(runs)})" if len(runs) > 1 else ""
    when = f"step {statistics.median(steps):,.0f}" if steps else "never"
    return f"{text} · {when}{count}"


def _lengths_cell(runs: list[dict]) -> str:
    means = [statistics.fmean(r["extra_lengths"]["accuracy"][k] for r in runs) for k in EXTRA]
    return " / ".join(f"{100 * m:.0f}" for m in means)


def test_table_shows_the_runs_parameter_counts() -> None:
    row = _table()[" parameters (parity_check–cycle_navigation)"]
    for column, model in enumerate(MODELS):
        counts = [{r["parameters"] for r in _runs(task, model)} for task in TASKS]
        assert all(len(c) == 1 for c in counts), model  # one count per task
        (first,), (second,) = counts
        assert row[column] == f"{first:,}–{second:,}", model


@pytest.mark.parametrize("task", TASKS)
def test_table_matches_the_runs(task: str) -> None:
    rows = _table()
    for column, model in enumerate(MODELS):
        runs = _runs(task, model)
        assert rows[f"{task} score"][column] == _score_cell(runs), (task, model)
        assert rows[f"{task} in-range · steps to generalise"][column] == \
            _generalise_cell(runs), (task, model)
        assert rows[f"{task} length 1k / 2k / 5k / 10k"][column] == \
            _lengths_cell(runs), (task, model)


def _time_at(run: dict, root: Path = RUNS) -> float:
    """The training clock (wall seconds) of the log row at the run's generalisation step."""
    log = root / run["run_id"] / "train_log.csv"
    with log.open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if int(r["step"]) == run["steps_to_generalise"])
    return float(row["wall_seconds"])


def _one_sided_fisher(k1: int, n1: int, k2: int, n2: int) -> float:
    """P(at least k1 of the k1 + k2 solves fall in the first group), hypergeometric."""
    total, solves = n1 + n2, k1 + k2
    return sum(math.comb(n1, k) * math.comb(n2, solves - k)
               for k in range(k1, min(n1, solves) + 1)) / math.comb(total, solves)


def test_prose_matches_the_runs() -> None:
    text = " ".join(_section().split())
    pr, lstm = _runs("parity_check", "pr_lstm"), _runs("parity_check", "lstm")
    pr_step = statistics.median(r["steps_to_generalise"] for r in pr)
    lstm_step = statistics.median(r["steps_to_generalise"] for r in lstm)
    pr_s = statistics.median(_time_at(r) for r in pr)
    lstm_s = statistics.median(_time_at(r) for r in lstm)
    assert (f"~{lstm_step / pr_step:.1f}× sooner in steps (median step {pr_step:,.0f} vs "
            f"{lstm_step:,.0f})") in text
    assert (f"~{lstm_s / pr_s:.1f}× sooner in training seconds (median {pr_s:.1f} s vs "
            f"{lstm_s:.1f} s)") in text

    solved = {m: sum(r["solved"] for r in _runs("cycle_navigation", m)) for m in MODELS[:2]}
    n = {m: len(_runs("cycle_navigation", m)) for m in MODELS[:2]}
    assert solved == {"pr_lstm": 2, "lstm": 0} and n == {"pr_lstm": 3, "lstm": 3}
    assert "generalises on cycle_navigation in 2 of 3 seeds, the LSTM in none" in text
    p = _one_sided_fisher(solved["pr_lstm"], n["pr_lstm"], solved["lstm"], n["lstm"])
    assert f"p = {p:.2f})" in text and p > 0.05

    counts = {m: {r["parameters"] for r in pr + lstm if r["model"] == m} for m in MODELS[:2]}
    (pr_params,), (lstm_params,) = counts["pr_lstm"], counts["lstm"]
    assert (f"{pr_params / lstm_params:.1f}× the LSTM's parameters ({pr_params:,} vs "
            f"{lstm_params:,})") in text
    steps = {r["model"]: r["steps"] for r in pr + lstm}
    assert f"pr_lstm {steps['pr_lstm']:,} steps and lstm {steps['lstm']:,} steps" in text


def test_time_and_overheads_match_the_log() -> None:
    text = " ".join(_section().split())
    log = (ROOT / "results" / "cpu" / "main_job.log").read_text(encoding="utf-8")
    install, job, total = map(int, re.search(
        r"install (\d+) s; main job (\d+) s; total (\d+) s", log).groups())
    assert install + job == total
    runs = [r for t in TASKS for m in MODELS for r in _runs(t, m)]
    assert f"**{total} s** ({install} s install + {job} s for {len(runs)} runs" in text
    pinned = (PINNED / "main_job.log").read_text(encoding="utf-8")
    p_install, p_job, p_total = map(int, re.search(
        r"install (\d+) s; main job (\d+) s; total (\d+) s", pinned).groups())
    assert p_install + p_job == p_total
    assert (f"{p_total / 60:.1f} minutes on 2 CPU cores from a fresh clone, install included, "
            "with the CPU pin") in _commands_section()
    assert f"took **{p_total} s** ({p_install} s install + {p_job} s" in text
    overhead = sum(r["validation"]["seconds"] for r in runs if r["validation"]) / sum(
        r["train_seconds"] for r in runs if r["validation"])
    assert f"≈{100 * overhead:.1f} % of the {len(runs)} runs' training time" in text


BLOCK = re.compile(r"^<!-- (summary|overview):begin (\S+) -->", flags=re.M)  # not `code`


def _blocks(text: str) -> list[tuple[str, str, str]]:
    """Each generated block of ``text``: (kind, the comparison.json it renders, its text)."""
    return [(m[1], m[2], text[m.end():text.index(f"<!-- {m[1]}:end -->", m.end())])
            for m in BLOCK.finditer(text)]


def _rendered(kind: str, source: str) -> str:
    from prlstm.experiments.reporting.summary import render_overview, render_summary
    from prlstm.experiments.run.io import read_json

    return {"summary": render_summary, "overview": render_overview}[kind](
        read_json(ROOT / source))


def test_quoted_comparison_summaries_match_their_data() -> None:
    """Every summary or overview block the README quotes (``<!-- summary:begin FILE -->``,
    ``<!-- overview:begin FILE -->``) is what ``python -m prlstm.experiments.reporting.summary
    FILE`` (with ``--overview``) renders from the committed file; without one, the README
    makes no claim from the fair comparison."""
    from prlstm.experiments.reporting.summary import quoted_block

    blocks = _blocks(README)
    for kind, source, _ in blocks:
        assert quoted_block(README, source, kind) == _rendered(kind, source), (kind, source)
    if not blocks:
        assert "no claim is made from it until it is complete" in " ".join(README.split())


def _quoting_files() -> list[Path]:
    """The Markdown files a summary block may live in: the README, the docs and each results
    directory's README."""
    return [ROOT / "README.md", *sorted(ROOT.glob("docs/**/*.md")),
            *sorted(ROOT.glob("results/*/README.md"))]


def test_every_quoted_summary_matches_its_data() -> None:
    """A summary or overview block anywhere in the docs or the results READMEs (an interim
    report of the finished tasks of a running grid, say) is what its committed
    ``comparison.json`` renders, and prose there quotes no interval its blocks do not hold."""
    from prlstm.experiments.reporting.summary import quoted_block

    for path in _quoting_files():
        text = path.read_text(encoding="utf-8")
        blocks = _blocks(text)
        for kind, source, _ in blocks:
            assert quoted_block(text, source, kind) == _rendered(kind, source), (path, source)
        if blocks:
            held = " ".join(block for _, _, block in blocks)
            quoted = INTERVAL.findall(" ".join(_outside_blocks(text).split()))
            assert [q for q in quoted if q not in held] == [], path


INTERVAL = re.compile(r"\d+/\d+ \(\d+–\d+ %\)|\d+(?:\.\d+)? \(\d+(?:\.\d+)?–\d+(?:\.\d+)?\)")


def _outside_blocks(text: str) -> str:
    return re.sub(r"<!-- (summary|overview):begin \S+ -->.*?<!-- \1:end -->", " ", text,
                  flags=re.S)


def test_intervals_quoted_in_prose_come_from_a_summary_block() -> None:
    """A solve count with its Wilson interval ("8/8 (68–100 %)") or a mean with its bootstrap
    interval ("99.8 (99.5–100.0)") quoted anywhere in the README's prose must appear in one of
    its generated blocks, so prose cannot quote a number the data does not hold."""
    held = " ".join(block for _, _, block in _blocks(README))
    quoted = INTERVAL.findall(" ".join(_outside_blocks(README).split()))
    assert [q for q in quoted if q not in held] == []


def test_the_interval_check_catches_a_made_up_interval() -> None:
    prose = "PR-LSTM solves 8/8 (68–100 %) with a mean of 99.8 (99.5–100.0)."
    assert INTERVAL.findall(prose) == ["8/8 (68–100 %)", "99.8 (99.5–100.0)"]
    for kind in ("summary", "overview"):
        assert INTERVAL.findall(_outside_blocks(
            f"<!-- {kind}:begin x.json -->\n3/8 (14–69 %)\n<!-- {kind}:end -->")) == []
    assert _blocks("a\n<!-- overview:begin x.json -->\nt\n<!-- overview:end -->\n") == [
        ("overview", "x.json", "\nt\n")]


def _commands_section() -> str:
    return " ".join(README[README.index("## Two commands"):README.index("## Quick start")].split())


def test_test_suite_times_match_their_measurement() -> None:
    data = json.loads((ROOT / "benchmarks" / "results" / "test_suite.json").read_text(
        encoding="utf-8"))
    full, fast = data["full"], data["fast"]
    assert full["returncode"] == fast["returncode"] == 0
    assert full["counts"]["passed"] > fast["counts"]["passed"] > 0
    text = _commands_section()
    assert f"That runs everything ({full['seconds'] / 60:.0f} minutes on 2 cores" in text
    assert f"takes {fast['seconds']:.0f} s" in text
    assert "benchmarks/results/test_suite.json" in text


def test_the_pins_cost_matches_its_measurement() -> None:
    data = json.loads((ROOT / "benchmarks" / "results" / "pin_cost.json").read_text(
        encoding="utf-8"))
    pr = data["models"]["pr_lstm"]
    ratio = statistics.median(pr["cpu_seconds"]["pinned"]) / statistics.median(
        pr["cpu_seconds"]["unpinned"])
    assert ratio == pytest.approx(pr["ratio"])
    text = " ".join(_section().split())
    assert f"makes a PR-LSTM training step about {ratio:.1f}× as costly" in text
    assert "benchmarks/results/pin_cost.json" in text

    docs = " ".join((ROOT / "docs" / "reproducibility.md").read_text(encoding="utf-8").split())
    med = {m: {k: statistics.median(v) for k, v in row["cpu_seconds"].items()}
           for m, row in data["models"].items()}
    assert (f"pr_lstm {med['pr_lstm']['pinned']:.1f} s pinned against "
            f"{med['pr_lstm']['unpinned']:.1f} s unpinned ({pr['ratio']:.2f}×)") in docs
    for model in ("lstm", "rnn"):
        assert (f"{model} {med[model]['pinned']:.2f} against {med[model]['unpinned']:.2f} "
                f"({data['models'][model]['ratio']:.2f}×)") in docs
    tf = med["transformer"]
    assert (f"transformer {tf['pinned']:.1f} against {tf['unpinned']:.1f} "
            f"({data['models']['transformer']['ratio']:.2f}×)") in docs
    assert f"pr_lstm's cost ratio is {pr['ratio']:.2f} here" in docs


def test_the_fair_grids_status_counts_its_committed_runs() -> None:
    """results/cpu-fair/README.md's "N of the 440 had finished" counts the committed reporting
    runs, and 440 is what the preset plans (55 cells × 8 seeds)."""
    from prlstm.experiments.reporting.plan import planned_runs

    fair = ROOT / "results" / "cpu-fair"
    text = " ".join((fair / "README.md").read_text(encoding="utf-8").split())
    runs = [f for f in (fair / "runs").rglob("result.json") if "tuning" not in f.parts]
    choices = list((fair / "runs" / "tuning").glob("*/*.json"))
    planned = len(planned_runs("cpu-fair"))
    if f"all {planned} reporting runs" in text:  # the grid is complete
        assert len(runs) == planned
    else:
        assert f"; {len(runs)} of the {planned} had finished at " in text
    assert f"the {len(choices)} lr choices are committed" in text


def _seed_scores(task: str, model: str, root: Path) -> str:
    runs = sorted(_runs(task, model, root), key=lambda r: r["seed"])
    return " / ".join(_pct(r["score"]) for r in runs)


def test_the_pinned_rerun_matches_its_runs() -> None:
    """The README's table of the pinned re-run (results/cpu-pinned): every seed's score next
    to the same seed's score before the pin, and the steps-to-generalise ratio it gives."""
    rows = {}
    for line in _section().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ("parity_check pinned", "cycle_navigation pinned"):
            rows[cells[0].split()[0]] = cells[1:]
    assert set(rows) == set(TASKS)
    for task in TASKS:
        for column, model in enumerate(MODELS):
            want = (f"{_seed_scores(task, model, PINNED / 'runs')} "
                    f"(was {_seed_scores(task, model, RUNS)})")
            assert rows[task][column] == want, (task, model)
    pr = _runs("parity_check", "pr_lstm", PINNED / "runs")
    lstm = _runs("parity_check", "lstm", PINNED / "runs")
    pr_step = statistics.median(r["steps_to_generalise"] for r in pr)
    lstm_step = statistics.median(r["steps_to_generalise"] for r in lstm)
    text = " ".join(_section().split())
    assert (f"pinned: ~{lstm_step / pr_step:.1f}× (median step {pr_step:,.0f} vs "
            f"{lstm_step:,.0f})") in text
    for run in pr + lstm:  # the pinned runs were computed under the pin
        assert run["cpu_env"]["pin"] == "on", run["run_id"]
    assert "Which runs solve does not change" in text
    for task in TASKS:
        for model in MODELS:
            before = {r["seed"]: r["solved"] for r in _runs(task, model)}
            assert {r["seed"]: r["solved"] for r in _runs(task, model, PINNED / "runs")} == before
