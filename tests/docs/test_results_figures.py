"""The figures docs/results.md quotes about the cpu-fair grid, recomputed from its committed
files (choice files, ``edge_check.json``), so a sentence cannot drift from its data."""

from __future__ import annotations

from pathlib import Path

from prlstm.experiments.orchestrate.tuning import edge_side, read_choice
from prlstm.experiments.run.io import read_json

ROOT = Path(__file__).resolve().parents[2]
TUNING = ROOT / "results" / "cpu-fair" / "runs" / "tuning"
TEXT = " ".join((ROOT / "docs" / "results.md").read_text(encoding="utf-8").split())


def test_the_edge_counts_match_the_choice_files() -> None:
    choices = [read_choice(f) for f in sorted(TUNING.glob("*/*.json"))]
    sides = [edge_side(c.means, c.chosen) for c in choices]
    assert f"the {len(choices)} choice files are in" in TEXT
    assert (f"In {sides.count('top')} cells the choice is the grid's largest lr (3e-3) and in "
            f"{sides.count('bottom')} its smallest (3e-4)") in TEXT


def test_the_edge_check_matches_its_file() -> None:
    path = TUNING / "edge_check.json"
    if not path.is_file():  # not run yet: the docs must not quote it
        assert "edge_check.json" not in TEXT
        return
    data = read_json(path)
    rows = data["cells"]
    assert data["edge_cells"] == len(rows) == sum(
        edge_side(c.means, c.chosen) is not None
        for c in (read_choice(f) for f in sorted(TUNING.glob("*/*.json"))))
    assert data["finished"] == sum(r["finished"] for r in rows)
    assert data["outward_wins"] == sum(bool(r["outward_wins"]) for r in rows)
    assert (f"the outward lr would have been chosen in {data['outward_wins']} of the "
            f"{data['finished']} edge cells") in TEXT


def test_the_edge_checks_breakdown_matches_its_file() -> None:
    from collections import Counter

    path = TUNING / "edge_check.json"
    if not path.is_file():
        return  # checked by test_the_edge_check_matches_its_file
    data = read_json(path)
    won = [r for r in data["cells"] if r["outward_wins"]]
    assert f"each of those {data['edge_cells']} cells once more" in TEXT
    by_model = Counter(r["variant"].split(" ")[0] for r in won)
    by_task = Counter(r["task"] for r in won)
    order = sorted(by_model, key=lambda m: ["pr_lstm", "lstm", "rnn"].index(m)
                   if m in ("pr_lstm", "lstm", "rnn") else 3)
    assert "By model: " + ", ".join(f"{m} {by_model[m]}" for m in order) + "." in TEXT
    assert "By task: " + ", ".join(f"{t} {n}" for t, n in sorted(
        by_task.items(), key=lambda kv: (-kv[1], kv[0]))) + "." in TEXT
    assert f"{data['diverged']} runs diverged at the outward lr" in TEXT
    bucket = sorted(r["variant"] for r in won if r["task"] == "bucket_sort")
    assert bucket == ["linear_rnn", "lstm hidden_size=128", "pr_lstm hidden_size=128",
                      "pr_lstm hidden_size=69", "rnn hidden_size=479"]


def test_the_pins_cost_matches_its_measurement() -> None:
    data = read_json(ROOT / "benchmarks" / "results" / "pin_cost.json")["models"]
    pct = {m: round(100 * (row["ratio"] - 1)) for m, row in data.items()}
    assert (f"+{pct['pr_lstm']} % for PR-LSTM, +{pct['transformer']} % for the transformer, "
            f"+{pct['rnn']} % for the RNN, +{pct['lstm']} % for the LSTM") in TEXT
