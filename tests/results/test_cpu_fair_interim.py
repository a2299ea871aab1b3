"""The reports of cpu-fair (the interim report of each finished task, and the full report once
the grid is complete): each is what the committed runs give, and the prose of
``results/cpu-fair/README.md`` quotes its numbers correctly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from prlstm.experiments.reporting.comparison import comparison_data
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.run.io import intact, read_json

ROOT = Path(__file__).resolve().parents[2]
FAIR = ROOT / "results" / "cpu-fair"
INTERIM = sorted((FAIR / "interim").glob("*/comparison.json"))
REPORTS = INTERIM + sorted(FAIR.glob("report/comparison.json"))
TASKS = ["parity_check", "cycle_navigation", "modular_arithmetic", "bucket_sort",
         "missing_duplicate_string"]
README = " ".join((FAIR / "README.md").read_text(encoding="utf-8").split())
VARIANTS, SEEDS = 11, 8


@pytest.mark.slow
@pytest.mark.parametrize("path", REPORTS, ids=[p.parent.name for p in REPORTS])
def test_a_report_is_what_the_committed_runs_give(path: Path, monkeypatch) -> None:
    """Complete (every variant of its tasks at all 8 seeds), sealed, and equal to a fresh
    computation from the committed runs (paths in the file are relative to the repository):
    an interim report from ``results/cpu-fair/runs/TASK``, the full one from all of ``runs``."""
    saved = read_json(path)
    assert intact(saved)
    interim = path.parent.parent.name == "interim"
    tasks = [path.parent.name] if interim else TASKS
    assert {c["task"] for c in saved["cells"]} == set(tasks)
    assert len(saved["cells"]) == VARIANTS * len(tasks)
    assert all(c["n"] == SEEDS for c in saved["cells"])
    monkeypatch.chdir(ROOT)
    runs = os.path.join("results", "cpu-fair", "runs", *(tasks if interim else []))
    fresh = comparison_data(load_results(runs), runs)
    assert fresh["cells"] == saved["cells"] and fresh["pairs"] == saved["pairs"]


def _cell(data: dict, variant: str) -> dict:
    return next(c for c in data["cells"] if c["variant"] == variant)


def _pair(data: dict, other: str) -> dict:
    return next(p for p in data["pairs"] if p["other"] == other)


def _fits(cell: dict) -> int:
    """How many of the cell's runs fitted their training range (``fitted`` of each run)."""
    return sum(read_json(FAIR / "runs" / run / "result.json")["fitted"] for run in cell["run_ids"])


def test_the_parity_check_prose_quotes_its_report() -> None:
    data = read_json(FAIR / "interim" / "parity_check" / "comparison.json")
    small = _pair(data, "lstm hidden_size=128")
    assert small["reference"] == "pr_lstm hidden_size=69" and not small["distinguishable"]
    assert (f"not distinguishable (Fisher p = {small['fisher_p']:.2g} on solves, permutation "
            f"p = {small['permutation_p']:.2g} on scores") in README
    rnn = _pair(data, "rnn hidden_size=128")
    assert rnn["reference"] == "pr_lstm hidden_size=69" and not rnn["distinguishable"]
    assert f"(p = {rnn['fisher_p']:.2g} for both tests)" in README
    assert f"{rnn['permutation_p']:.2g}" == f"{rnn['fisher_p']:.2g}"
    after = [p["other"] for p in data["pairs"] if p["survives_holm"]]
    assert after == ["lstm hidden_size=239", "mingru", "mamba", "mlstm"]
    assert all(_cell(data, v)["solves"] == 0 for v in after)
    level = [p["other"] for p in data["pairs"] if not p["distinguishable"]
             and p["reference"] == data["reference"]]
    assert level == ["pr_lstm hidden_size=69", "rnn hidden_size=479", "linear_rnn", "deltanet"]
    cpu = {v: round(_cell(data, v)["median_train_cpu_seconds"])
           for v in ("pr_lstm hidden_size=128", "lstm hidden_size=239")}
    assert (f"a median {cpu['pr_lstm hidden_size=128']} s of CPU time, the LSTM at H = 239 for "
            f"{cpu['lstm hidden_size=239']} s") in README
    assert re.search(r"\bsolves 8/8 \(68–100 %\)", README)
    fits = {c["variant"]: (c["solves"], c["fitted"], _fits(c)) for c in data["cells"]}
    assert all(f == counted for _, f, counted in fits.values())  # the column is the runs'
    unsolved = sorted(v for v, (k, _, _) in fits.items() if k == 0)
    assert unsolved == sorted(["lstm hidden_size=128", "lstm hidden_size=239", "mingru",
                               "mamba", "mlstm"])
    assert all(fits[v][1] == 0 for v in unsolved)
    assert fits["pr_lstm hidden_size=69"][:2] == (3, 3)
    short = {v: (f, k) for v, (k, f, _) in fits.items() if f > k}
    assert short == {"linear_rnn": (8, 7), "deltanet": (8, 4)}
    assert "linear RNN's (8 fit, 7 solve) and DeltaNet's (8 fit, 4 solve)" in README


def test_the_cycle_navigation_prose_quotes_its_report() -> None:
    data = read_json(FAIR / "interim" / "cycle_navigation" / "comparison.json")
    ref = data["reference"]
    assert _cell(data, ref)["solves"] == 6 and "solves 6/8 (41–93 %)" in README
    rnn = _pair(data, "rnn hidden_size=479")
    assert rnn["reference"] == ref and not rnn["distinguishable"]
    assert (f"(Fisher p = {rnn['fisher_p']:.2g} on solves, permutation p = "
            f"{rnn['permutation_p']:.2g} on scores)") in README
    unsolved = [c["variant"] for c in data["cells"] if c["solves"] == 0]
    assert unsolved == ["pr_lstm hidden_size=69", "lstm hidden_size=128", "lstm hidden_size=239",
                        "mingru", "linear_rnn", "deltanet", "mamba", "mlstm"]
    big = unsolved[2:]
    assert all(_pair(data, v)["survives_holm"] and _pair(data, v)["reference"] == ref
               for v in big)
    assert all(0.19 < _cell(data, v)["mean"] < 0.24 for v in big if v != "linear_rnn")
    linear = _pair(data, "linear_rnn")
    assert f"Its Holm p, {linear['holm_p']:.2g}," in README
    assert max(_pair(data, v)["holm_p"] for v in big) == linear["holm_p"]
    assert _pair(data, "pr_lstm hidden_size=69")["survives_holm"]
    lstm = _pair(data, "lstm hidden_size=128")
    assert lstm["reference"] == "pr_lstm hidden_size=69" and lstm["survives_holm"]
    assert lstm["solves_reference"] == lstm["solves_other"] == 0
    assert f"(permutation p = {lstm['permutation_p']:.2g})" in README
    small = _pair(data, "rnn hidden_size=128")
    assert small["reference"] == "pr_lstm hidden_size=69" and not small["distinguishable"]
    assert (f"(Fisher p = {small['fisher_p']:.2g}, permutation p = "
            f"{small['permutation_p']:.2g})") in README
    fits = {c["variant"]: _fits(c) for c in data["cells"]}
    assert sorted(v for v in unsolved if fits[v] == 0) == sorted(
        ["lstm hidden_size=128", "lstm hidden_size=239", "pr_lstm hidden_size=69", "mingru",
         "deltanet", "mamba"])
    assert fits["linear_rnn"] == 7 and fits["mlstm"] == 4
    assert "(fits 7/8) and mLSTM (fits 4/8)" in README
    cpu = {v: round(_cell(data, v)["median_train_cpu_seconds"])
           for v in (ref, "rnn hidden_size=479", "lstm hidden_size=239")}
    assert (f"PR-LSTM at H = 128 {cpu[ref]} s, the RNN at H = 479 {cpu['rnn hidden_size=479']} "
            f"s, the LSTM at H = 239 {cpu['lstm hidden_size=239']} s") in README
    edge = read_json(FAIR / "runs" / "tuning" / "edge_check.json")
    here = [c for c in edge["cells"] if c["task"] == "cycle_navigation"]
    assert [c["variant"] for c in here if c["outward_wins"]] == ["lstm hidden_size=239"]
    top = next(c for c in here if c["variant"] == ref)
    assert top["chosen_lr"] == 3e-3 and not top["outward_wins"]


def test_the_modular_arithmetic_prose_quotes_its_report() -> None:
    data = read_json(FAIR / "interim" / "modular_arithmetic" / "comparison.json")
    runs = [read_json(FAIR / "runs" / run / "result.json")
            for c in data["cells"] for run in c["run_ids"]]
    assert len(runs) == VARIANTS * SEEDS
    assert not any(r["fitted"] for r in runs) and all(c["solves"] == 0 for c in data["cells"])
    scores = [100 * r["score"] for r in runs]
    assert f"score between {min(scores):.1f} and {max(scores):.1f} %" in README
    assert max(scores) < 22  # chance on five classes is 20 %
    inside = [100 * r["in_range_accuracy"] for r in runs]
    assert f"in-range accuracies between {min(inside):.1f} and {max(inside):.1f} %" in README
    assert not any(p["survives_holm"] for p in data["pairs"])
    only = [p for p in data["pairs"] if p["distinguishable"]]
    assert [p["other"] for p in only] == ["pr_lstm hidden_size=69"]
    assert only[0]["reference"] == data["reference"] == "pr_lstm hidden_size=128"
    small, big = (_cell(data, v)["mean"] for v in (only[0]["other"], only[0]["reference"]))
    assert (f"PR-LSTM at H = 69 ({100 * small:.1f}) against H = 128 ({100 * big:.1f}), "
            f"permutation p = {only[0]['permutation_p']:.2g} (Holm {only[0]['holm_p']:.2g})"
            ) in README
    valid = [v["mean"] for c in data["cells"] for v in c["lr"]["validation"]]
    assert f"({100 * min(valid):.1f} to {100 * max(valid):.1f} % on 48 sequences)" in README
    full = ROOT / "results" / "cpu-full" / "runs" / "modular_arithmetic"
    main = {m: [(read_json(r / "config.json")["steps"], read_json(r / "result.json"))
                for r in sorted((full / m).iterdir()) if (r / "result.json").exists()]
            for m in ("pr_lstm", "lstm", "stack_rnn")}
    assert [s for s, _ in main["pr_lstm"]] == [2000] * 3
    assert [s for s, _ in main["lstm"]] == [s for s, _ in main["stack_rnn"]] == [5000] * 3
    assert not any(r["fitted"] for m in ("pr_lstm", "lstm") for _, r in main[m])
    assert sum(r["fitted"] for _, r in main["stack_rnn"]) == 3
    assert sum(r["score"] >= 0.9 for _, r in main["stack_rnn"]) == 1
    assert "fitted it in 3 of 3 seeds at 5,000 steps and solved it in 1" in README


def test_the_missing_duplicate_string_prose_quotes_its_report() -> None:
    data = read_json(FAIR / "interim" / "missing_duplicate_string" / "comparison.json")
    ref = data["reference"]
    assert _cell(data, ref)["solves"] == 8 and "solves 8/8 (68–100 %)" in README
    after = [p["other"] for p in data["pairs"] if p["survives_holm"]]
    assert after == ["rnn hidden_size=479", "lstm hidden_size=128", "lstm hidden_size=239",
                     "mingru", "deltanet", "mamba", "mlstm"]
    assert all(p["mean_reference"] > p["mean_other"] for p in data["pairs"]
               if p["survives_holm"])
    assert [v for v in after if _cell(data, v)["solves"]] == ["deltanet"]
    delta = _pair(data, "deltanet")
    assert (f"(permutation p = {delta['permutation_p']:.2g}, Holm {delta['holm_p']:.2g})"
            in README)
    linear = _pair(data, "linear_rnn")
    assert not linear["distinguishable"] and _cell(data, "linear_rnn")["solves"] == 7
    assert (f"(Fisher p = {linear['fisher_p']:.2g}, permutation p = "
            f"{linear['permutation_p']:.2g})") in README
    lstm = _pair(data, "lstm hidden_size=128")
    assert lstm["reference"] == "pr_lstm hidden_size=69" and lstm["survives_holm"]
    assert (lstm["solves_reference"], lstm["solves_other"]) == (7, 0)
    assert f"(Fisher p = {lstm['fisher_p']:.2g}, Holm {lstm['holm_p']:.2g})" in README
    rnn = _pair(data, "rnn hidden_size=128")
    assert rnn["reference"] == "pr_lstm hidden_size=69" and not rnn["distinguishable"]
    assert (f"(Fisher p = {rnn['fisher_p']:.2g}, permutation p = {rnn['permutation_p']:.2g})"
            in README)
    fits = {c["variant"]: _fits(c) for c in data["cells"]}
    assert fits == {c["variant"]: c["fitted"] for c in data["cells"]}
    assert (fits["lstm hidden_size=128"], fits["lstm hidden_size=239"]) == (8, 6)
    assert _cell(data, "lstm hidden_size=128")["solves"] == 0
    assert [v for v in fits if fits[v] == 0] == ["rnn hidden_size=479", "mingru", "mlstm"]
    assert fits["mamba"] == 3 and "Mamba in 3 of 8" in README
    wide = _cell(data, "rnn hidden_size=479")["lr"]
    valid = [v["mean"] for v in wide["validation"]]
    assert wide["chosen"] == 3e-4 and max(valid) < 0.5
    assert f"({100 * min(valid):.1f} to {100 * max(valid):.1f} %)" in README
    edge = read_json(FAIR / "runs" / "tuning" / "edge_check.json")
    here = {c["variant"]: c for c in edge["cells"] if c["task"] == "missing_duplicate_string"}
    assert here["rnn hidden_size=479"]["outward_lr"] == 1e-4
    assert here["rnn hidden_size=479"]["outward_wins"]
    assert here["rnn hidden_size=479"]["outward_mean"] <= 0.5
    cpu = {v: round(_cell(data, v)["median_train_cpu_seconds"])
           for v in (ref, "lstm hidden_size=239", "pr_lstm hidden_size=69",
                     "lstm hidden_size=128")}
    assert (f"PR-LSTM at H = 128 {cpu[ref]} s, the LSTM at H = 239 "
            f"{cpu['lstm hidden_size=239']} s, PR-LSTM at H = 69 "
            f"{cpu['pr_lstm hidden_size=69']} s, the LSTM at H = 128 "
            f"{cpu['lstm hidden_size=128']} s") in README
    full = ROOT / "results" / "cpu-full" / "runs" / "missing_duplicate_string" / "lstm"
    main = [read_json(r / "result.json") for r in sorted(full.iterdir())
            if (r / "result.json").exists()]
    assert [(r["steps"], r["lr"], r["fitted"]) for r in main] == [(5000, 1e-3, True)] * 2
    assert (f"scored {100 * main[0]['score']:.1f} and {100 * main[1]['score']:.1f}."
            in README)
