"""The full cpu-fair report (all 440 runs, Holm over 50 pairs) and the prose that quotes it:
the top-level README's section "The fair comparison" and ``results/cpu-fair/README.md``.
Every verdict, count and p-value the prose states is recomputed here from
``results/cpu-fair/report/comparison.json`` (which ``test_cpu_fair_interim.py`` ties to the
committed runs) and from the edge check's summary."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from prlstm.experiments.run.io import read_json

ROOT = Path(__file__).resolve().parents[2]
FAIR = ROOT / "results" / "cpu-fair"
DATA = read_json(FAIR / "report" / "comparison.json")
EDGE = read_json(FAIR / "runs" / "tuning" / "edge_check.json")
PR, PR_SMALL = "pr_lstm hidden_size=128", "pr_lstm hidden_size=69"
LSTM, LSTM_WIDE = "lstm hidden_size=128", "lstm hidden_size=239"


def _section(text: str, start: str) -> str:
    begin = text.index(start)
    end = text.find("\n## ", begin + 1)
    return " ".join(text[begin:end if end > 0 else None].split())


TOP = _section((ROOT / "README.md").read_text(encoding="utf-8"), "## The fair comparison")
FAIR_README = (FAIR / "README.md").read_text(encoding="utf-8")
FULL = _section(FAIR_README, "## The full report")
FULL_STATUS = _section(FAIR_README, "**Status: complete.")


def _cell(task: str, variant: str) -> dict:
    return next(c for c in DATA["cells"] if c["task"] == task and c["variant"] == variant)


def _pair(task: str, other: str) -> dict:
    return next(p for p in DATA["pairs"] if p["task"] == task and p["other"] == other)


def _edge(task: str) -> dict[str, dict]:
    """The edge check's cells of ``task`` by variant."""
    return {c["variant"]: c for c in EDGE["cells"] if c["task"] == task}


def _survivors(task: str) -> list[str]:
    return [p["other"] for p in DATA["pairs"] if p["task"] == task and p["survives_holm"]]


def test_the_budget_quoted() -> None:
    """Sizes (median parameter count over the tasks), steps, batch, lr grid, seeds."""
    for variant in (PR, PR_SMALL):
        params = statistics.median(p for c in DATA["cells"] if c["variant"] == variant
                                   for p in c["parameters"])
        assert f"about {params / 1000:.0f}k" in TOP
    steps = {c["task"]: c["steps"] for c in DATA["cells"]}
    assert steps == {t: [500 if t == "bucket_sort" else 1000] for t in steps}
    assert "the same number of steps on a task (1,000; bucket_sort 500), batch 128" in TOP
    budget = DATA["budget"]
    assert budget["batch_size"] == [128] and budget["tuning_seeds"] == [100]
    assert budget["lr_grids"] == [[3e-4, 1e-3, 3e-3]] and budget["seeds"] == list(range(8))
    assert budget["tuned_cells"] == budget["cells"] == 55 == 5 * 11
    assert "Five tasks, eleven variants, eight seeds each: 440 runs." in TOP
    assert "from {3e-4, 1e-3, 3e-3} (tuning seed 100;" in TOP


def test_holm_runs_over_all_fifty_pairs() -> None:
    assert len(DATA["pairs"]) == 50
    assert "Holm's correction over all 50 pairs" in TOP


def test_no_variant_is_distinguishably_better_than_its_pr_lstm() -> None:
    survivors = [p for p in DATA["pairs"] if p["survives_holm"]]
    assert survivors and all(p["mean_reference"] > p["mean_other"] for p in survivors)
    assert all(p["solves_reference"] >= p["solves_other"] for p in survivors)
    assert "In every pair that survives Holm, PR-LSTM is the higher." in TOP


def test_the_survivors_per_task_are_what_the_prose_says() -> None:
    assert _survivors("modular_arithmetic") == []
    assert _survivors("parity_check") == [LSTM_WIDE, "mingru", "mamba", "mlstm"]
    assert _survivors("cycle_navigation") == [LSTM, LSTM_WIDE, "mingru"]
    assert _survivors("missing_duplicate_string") == [
        "rnn hidden_size=479", LSTM_WIDE, "mingru", "mamba", "mlstm"]
    assert _survivors("bucket_sort") == [
        "rnn hidden_size=128", "rnn hidden_size=479", LSTM, LSTM_WIDE, "mingru", "linear_rnn",
        "deltanet", "mamba", "mlstm"]


def test_the_pr_lstm_solve_counts_quoted() -> None:
    solves = {t: _cell(t, PR)["solves"] for t in
              ("parity_check", "missing_duplicate_string", "bucket_sort", "cycle_navigation")}
    assert solves == {"parity_check": 8, "missing_duplicate_string": 8, "bucket_sort": 7,
                      "cycle_navigation": 6}
    assert "parity_check and missing_duplicate_string in 8/8 (68–100 %) seeds, bucket_sort in " \
           "7/8 (53–98 %) and cycle_navigation in 6/8 (41–93 %)" in TOP
    cells = [c for c in DATA["cells"] if c["task"] == "modular_arithmetic"]
    assert not any(c["solves"] or c["fitted"] for c in cells)
    assert "No variant solves modular_arithmetic, and none fits it." in TOP


def test_the_lstm_prose() -> None:
    wide = [c for c in DATA["cells"] if c["variant"] == LSTM_WIDE]
    assert len(wide) == 5 and not any(c["solves"] for c in wide)
    for task in ("parity_check", "cycle_navigation", "missing_duplicate_string", "bucket_sort"):
        assert _pair(task, LSTM_WIDE)["survives_holm"], task
    cyc = _pair("cycle_navigation", LSTM_WIDE)
    assert cyc["survives_holm"] and 0.04 < cyc["holm_p"] < 0.05
    assert f"(Holm p = {cyc['holm_p']:.2g})" in TOP
    small = {t: (_pair(t, LSTM)["solves_reference"], _pair(t, LSTM)["solves_other"])
             for t in ("parity_check", "missing_duplicate_string", "bucket_sort")}
    assert small == {"parity_check": (3, 0), "missing_duplicate_string": (7, 0),
                     "bucket_sort": (2, 0)}
    bucket, mds = _pair("bucket_sort", LSTM), _pair("missing_duplicate_string", LSTM)
    assert bucket["reference"] == PR_SMALL and bucket["survives_holm"]
    assert bucket["fisher_p"] > 0.025 > bucket["permutation_p"]  # on scores only
    assert f"Holm, and on scores (Holm p = {bucket['holm_p']:.2g})" in TOP
    assert mds["distinguishable"] and not mds["survives_holm"]
    assert f"(Fisher p = {mds['fisher_p']:.2g}, Holm {mds['holm_p']:.2g})" in TOP
    cyc_small = _pair("cycle_navigation", LSTM)
    assert cyc_small["survives_holm"]
    assert cyc_small["solves_reference"] == cyc_small["solves_other"] == 0


def test_the_linear_recurrences_prose() -> None:
    for model in ("mingru", "mamba", "mlstm"):
        assert not any(c["solves"] for c in DATA["cells"] if c["variant"] == model)
        for task in ("parity_check", "missing_duplicate_string", "bucket_sort"):
            assert _pair(task, model)["survives_holm"], (task, model)
    for model in ("linear_rnn", "deltanet"):
        for task in ("parity_check", "missing_duplicate_string"):
            assert not _pair(task, model)["survives_holm"]
        assert _pair("bucket_sort", model)["survives_holm"]
        cyc = _pair("cycle_navigation", model)
        assert cyc["distinguishable"] and not cyc["survives_holm"]
    counts = {(t, m): _cell(t, m)["solves"] for t in ("parity_check", "missing_duplicate_string")
              for m in ("linear_rnn", "deltanet")}
    assert set(counts.values()) == {7, 4}
    assert counts[("parity_check", "linear_rnn")] == counts[("missing_duplicate_string",
                                                             "linear_rnn")] == 7
    before = [(t, m) for t in ("parity_check", "missing_duplicate_string")
              for m in ("linear_rnn", "deltanet") if _pair(t, m)["distinguishable"]]
    assert before == [("missing_duplicate_string", "deltanet")]
    mds = _pair("missing_duplicate_string", "deltanet")
    assert (f"only DeltaNet on missing_duplicate_string is before it (permutation p = "
            f"{mds['permutation_p']:.2g}, Holm {mds['holm_p']:.2g})") in TOP
    lin, delta = _pair("cycle_navigation", "linear_rnn"), _pair("cycle_navigation", "deltanet")
    assert f"(Holm p = {lin['holm_p']:.2g} and {delta['holm_p']:.2g})" in TOP


def test_the_rnn_prose() -> None:
    wide = "rnn hidden_size=479"
    assert (_cell("parity_check", wide)["solves"], _cell("cycle_navigation", wide)["solves"]) \
        == (8, 5)
    assert not _pair("parity_check", wide)["distinguishable"]
    assert not _pair("cycle_navigation", wide)["distinguishable"]
    for task in ("missing_duplicate_string", "bucket_sort"):
        assert _cell(task, wide)["fitted"] == 0 and _pair(task, wide)["survives_holm"]


def test_the_failures_to_generalise_listed_are_the_ones_that_fit() -> None:
    """The prose lists the variants that solve nothing yet fit in at least 6 of 8 seeds."""
    listed = {(c["task"], c["variant"]) for c in DATA["cells"]
              if c["solves"] == 0 and c["fitted"] >= 6}
    assert listed == {("missing_duplicate_string", LSTM), ("missing_duplicate_string", LSTM_WIDE),
                      ("cycle_navigation", "linear_rnn"), ("bucket_sort", "mingru"),
                      ("bucket_sort", "linear_rnn"), ("bucket_sort", "mamba"),
                      ("bucket_sort", "deltanet"), ("bucket_sort", "mlstm"),
                      ("bucket_sort", LSTM)}


def test_the_edge_check_figures() -> None:
    cells = _edge("bucket_sort")
    won = sorted(v for v, c in cells.items() if c["outward_wins"] and c["outward_lr"] == 1e-2)
    assert won == sorted(["linear_rnn", LSTM, PR_SMALL, PR])
    assert "would have won for both PR-LSTM widths, the LSTM at H = 128 and the linear RNN" in TOP
    lin, pr = cells["linear_rnn"], cells[PR]
    assert (f"from {100 * lin['chosen_mean']:.1f} % at 3e-3 to {100 * lin['outward_mean']:.1f} % "
            f"at 1e-2 (PR-LSTM at H = 128: {100 * pr['chosen_mean']:.1f} % to "
            f"{100 * pr['outward_mean']:.1f} %)") in TOP


def test_the_cpu_cost_ratio() -> None:
    tasks = sorted({c["task"] for c in DATA["cells"]})
    ratios = [_cell(t, PR)["median_train_cpu_seconds"] / _cell(t, LSTM_WIDE)[
        "median_train_cpu_seconds"] for t in tasks]
    assert f"{min(ratios):.1f}–{max(ratios):.1f}× the CPU seconds" in TOP
    linear = [_cell(t, m)["median_train_cpu_seconds"] / _cell(t, PR)["median_train_cpu_seconds"]
              for t in tasks for m in ("mingru", "linear_rnn", "deltanet", "mamba", "mlstm")]
    assert f"took {min(linear):.1f}–{max(linear):.1f}× PR-LSTM's CPU seconds" in TOP


def test_the_rnn_at_the_lstms_size_is_the_direction_that_favours_a_baseline() -> None:
    rnn = "rnn hidden_size=128"
    favour = sorted(p["task"] for p in DATA["pairs"] if p["solves_other"] > p["solves_reference"])
    assert favour == ["cycle_navigation", "parity_check"]
    assert all(p["other"] == rnn and not p["distinguishable"] for p in DATA["pairs"]
               if p["solves_other"] > p["solves_reference"])
    par, cyc = _pair("parity_check", rnn), _pair("cycle_navigation", rnn)
    assert f"{par['fisher_p']:.2g}" == f"{par['permutation_p']:.2g}"
    assert (f"(8/8 against 3/8, p = {par['fisher_p']:.2g} for both tests) and on "
            f"cycle_navigation (2/8 against 0/8, Fisher p = {cyc['fisher_p']:.2g})") in TOP


def test_most_unsolved_cells_did_not_fit() -> None:
    unsolved = [c for c in DATA["cells"] if c["solves"] == 0]
    unfit = [c for c in unsolved if c["fitted"] == 0]
    assert 2 * len(unfit) > len(unsolved)
    assert f"Of the {len(unsolved)} cells that solve no run, {len(unfit)} fit in no seed" in TOP


def test_the_bucket_sort_prose() -> None:
    task, ref = "bucket_sort", _cell("bucket_sort", PR)
    assert (ref["solves"], ref["fitted"]) == (7, 8)
    others = [p for p in DATA["pairs"] if p["task"] == task and p["reference"] == PR
              and p["other"] != PR_SMALL]
    assert len(others) == 7 and all(p["survives_holm"] and p["solves_other"] == 0
                                    for p in others)
    assert {f"{p['holm_p']:.2g}" for p in others} == {"0.016"}
    assert "(Holm p = 0.016 for all seven)" in FULL
    means = sorted(others, key=lambda p: -p["mean_other"])
    assert [p["other"] for p in means[:2]] == ["linear_rnn", "mlstm"]
    small = _cell(task, PR_SMALL)
    assert (small["solves"], small["fitted"]) == (2, 8)
    near = [s for s in small["scores"] if 0.86 <= s < 0.9]
    assert len(near) == 5 and "five of its other six runs score between 86 and 90 %" in FULL
    for other in (LSTM, "rnn hidden_size=128"):
        p = _pair(task, other)
        assert p["reference"] == PR_SMALL and p["survives_holm"]
        assert (f"{p['permutation_p']:.2g}", f"{p['holm_p']:.2g}", f"{p['fisher_p']:.2g}") == (
            "0.00016", "0.016", "0.47")
    assert "(permutation p = 0.00016, Holm 0.016), not on solve counts (Fisher p = 0.47)" in FULL
    width = _pair(task, PR_SMALL)
    assert width["distinguishable"] and not width["survives_holm"]
    assert (f"(Fisher p = {width['fisher_p']:.2g}, permutation p = "
            f"{width['permutation_p']:.2g}) and not after it (Holm {width['holm_p']:.2g})") in FULL
    fits = {c["variant"]: c["fitted"] for c in DATA["cells"] if c["task"] == task}
    assert [v for v in fits if fits[v] == 0] == ["rnn hidden_size=128", "rnn hidden_size=479",
                                                LSTM_WIDE]
    assert {v for v in fits if fits[v] == 8} >= {"mingru", "linear_rnn", "mamba", "mlstm"}
    assert fits["deltanet"] == fits[LSTM] == 6
    cells = _edge(task)
    lin, pr = cells["linear_rnn"], cells[PR]
    assert (f"rose from {100 * lin['chosen_mean']:.1f} % to {100 * lin['outward_mean']:.1f} %, "
            f"close to PR-LSTM's {100 * pr['outward_mean']:.1f} % at 1e-2") in FULL
    assert cells["mlstm"]["diverged"] and not cells["mlstm"]["outward_wins"]
    assert not cells["deltanet"]["outward_wins"] and not cells["mamba"]["outward_wins"]
    wide = cells["rnn hidden_size=479"]
    assert wide["outward_wins"] and wide["outward_lr"] == 1e-4
    cpu = {v: round(_cell(task, v)["median_train_cpu_seconds"]) for v in
           (PR, LSTM_WIDE, PR_SMALL, LSTM)}
    assert (f"PR-LSTM at H = 128 {cpu[PR]} s, the LSTM at H = 239 {cpu[LSTM_WIDE]} s, "
            f"PR-LSTM at H = 69 {cpu[PR_SMALL]} s, the LSTM at H = 128 {cpu[LSTM]} s") in FULL
    slow = [read_json(FAIR / "runs" / r / "result.json") for r in small["run_ids"]]
    slow = max((r for r in slow if r["score"] >= 0.9), key=lambda r: r["train_seconds"])
    assert (f"({slow['train_seconds']:,.0f} s wall, {slow['train_cpu_seconds']:.0f} s CPU)"
            in FULL)


def test_what_holm_over_fifty_pairs_changes() -> None:
    """The pairs that survived their own task's correction in the interim reports and do not
    survive the full one are the seven the prose lists, with their Holm p."""
    dropped = []
    for path in sorted((FAIR / "interim").glob("*/comparison.json")):
        interim = read_json(path)
        for p in interim["pairs"]:
            full = _pair(p["task"], p["other"])
            assert full["survives_holm"] <= p["survives_holm"]  # no pair gains
            if p["survives_holm"] and not full["survives_holm"]:
                assert full["distinguishable"] and full["mean_reference"] > full["mean_other"]
                dropped.append((p["task"], p["other"], f"{full['holm_p']:.2g}"))
    assert sorted(dropped) == sorted([
        ("cycle_navigation", PR_SMALL, "0.076"), ("cycle_navigation", "linear_rnn", "0.21"),
        ("cycle_navigation", "deltanet", "0.061"), ("cycle_navigation", "mamba", "0.054"),
        ("cycle_navigation", "mlstm", "0.076"), ("missing_duplicate_string", "deltanet", "0.076"),
        ("missing_duplicate_string", LSTM, "0.076")])
    assert ("PR-LSTM at H = 69 (Holm p = 0.076), the linear RNN (0.21), DeltaNet (0.061), "
            "Mamba (0.054) and mLSTM (0.076)") in FULL


def test_the_measured_cost_of_the_grid() -> None:
    costs = read_json(ROOT / "benchmarks" / "results" / "cpu_fair_costs.json")
    runs = [read_json(f) for f in (FAIR / "runs").glob("*/*/*/result.json")]
    assert len(runs) == 440
    spent = sum(r["train_cpu_seconds"] + r["eval_seconds"] for r in runs)
    planned = 8 * sum(c["run_s"] for task in costs["costs"].values() for c in task.values())
    tuning = 0.0
    logs = list((FAIR / "runs" / "tuning" / "runs").glob("*/*/*/train_log.csv"))
    grid = [f for f in logs if f.parent.name.split("-")[1] in ("lr0.0003", "lr0.001", "lr0.003")]
    assert len(grid) == 165
    for f in grid:
        with f.open(encoding="utf-8") as fh:
            tuning += float(list(csv.DictReader(fh))[-1]["wall_seconds"])
    tuning_planned = costs["core_seconds"] - planned
    total = spent + tuning
    assert (f"the 440 reporting runs took {spent:,.0f} core-seconds" in FULL_STATUS)
    assert f"the estimate for them was {round(planned, -2):,.0f}" in FULL_STATUS
    assert f"so {100 * (spent / planned - 1):.0f} % more" in FULL_STATUS
    assert f"the 165 tuning runs {tuning:,.0f} wall-clock seconds" in FULL_STATUS
    assert f"the estimate was {round(tuning_planned, -2):,.0f}" in FULL_STATUS
    assert (f"Together about {round(total, -2):,.0f} core-seconds, {total / 7200:.1f} hours of "
            "both cores") in FULL_STATUS
    docs = " ".join((ROOT / "docs" / "results.md").read_text(encoding="utf-8").split())
    assert (f"about {total / 7200:.1f} hours of both cores (reporting runs "
            f"{100 * (spent / planned - 1):.0f} % over their estimate") in docs
