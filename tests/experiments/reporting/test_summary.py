"""The README summary of a fair comparison, rendered from ``comparison.json``'s numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prlstm.experiments.reporting.comparison import JSON_FILE, write_comparison
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.reporting.stats import cell_stats, wilson_interval
from prlstm.experiments.reporting.summary import (
    _settings,
    main,
    quoted_block,
    render_overview,
    render_summary,
    replace_block,
    verdict_line,
)
from prlstm.experiments.run.io import read_json

from .test_comparison import (  # noqa: F401
    LSTM_SCORES,
    PR_PARAMETERS,
    PR_SCORES,
    _sized,
    data,
    tree,
)


def _rows(text: str) -> dict[str, list[str]]:
    return {cells[0]: cells[1:] for line in text.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_rows_carry_the_cells_intervals_and_p_values(data: dict[str, Any]) -> None:  # noqa: F811
    text = render_summary(data)
    rows = _rows(text)
    lo, hi = wilson_interval(7, 8)
    pr = cell_stats(PR_SCORES)
    # training seconds 100 + 2 * seed (CPU 60 + 2 * seed): medians 107 and 67; solved seeds
    # first reach 0.95 at steps 2, 3, 4, 5, 6, 3, 4 (median 4), 0.5 s per step
    assert rows["pr_lstm"] == [
        f"{PR_PARAMETERS:,}", "6", "1e-3", f"7/8 ({100 * lo:.0f}–{100 * hi:.0f} %)", "8/8",
        f"{100 * pr.mean:.1f} ({100 * pr.mean_low:.1f}–{100 * pr.mean_high:.1f})",
        "107 s (67 s CPU)", "step 4 (7/8) · 2.0 s", "reference"]
    (pair,) = data["pairs"]
    lstm = cell_stats(LSTM_SCORES)
    assert rows["lstm"][2] == "untuned"
    assert rows["lstm"][5] == (f"{100 * lstm.mean:.1f} ({100 * lstm.mean_low:.1f}–"
                               f"{100 * lstm.mean_high:.1f})")
    assert rows["lstm"][6:] == ["107 s", "step 5 (1/8) · 2.5 s",
                                f"{pair['fisher_p']:.2g} / {pair['permutation_p']:.2g} · "
                                f"Holm {2 * min(pair['fisher_p'], pair['permutation_p']):.2g}: "
                                "distinguishable, reference higher"]
    assert "**parity_check**" in text
    # the smoke preset's settings are in the names (pr_lstm, lstm: hidden_size=8 etc.)
    assert "Settings not in the names: pr_lstm: " in text and "hidden_size=8" in text


def test_the_fitted_column_counts_runs_that_fitted_their_training_range(tmp_path: Path) -> None:
    """Of the runs that recorded it; a dash where none did (results from before the field)."""
    from prlstm.experiments.reporting.comparison import comparison_data

    runs = [{**r, "fitted": fitted} for r, fitted in
            zip(_sized("pr_lstm", 128, 100, [1.0, 0.95, 0.3, 0.2]), (True, True, False, None),
                strict=True)]
    runs = [{k: v for k, v in r.items() if v is not None} for r in runs]  # one without it
    old = _sized("lstm", 128, 100, [0.5] * 4)
    mixed = comparison_data(runs + old, tmp_path)
    cells = {c["variant"]: c for c in mixed["cells"]}
    assert (cells["pr_lstm"]["fitted"], cells["pr_lstm"]["fit_known"]) == (2, 3)
    assert (cells["lstm"]["fitted"], cells["lstm"]["fit_known"]) == (0, 0)
    rows = _rows(render_summary(mixed))
    assert rows["pr_lstm"][4] == "2/3" and rows["lstm"][4] == "–"
    assert "| variant | parameters | steps | lr | solved k/n (CI) | fitted |" in \
        render_summary(mixed)


def test_settings_not_in_the_names() -> None:
    cells = [{"variant": "pr_lstm hidden_size=69", "task": t,
              "hparams": {"hidden_size": 69, "refinements": r}} for t, r in (("a", 1), ("b", 2))]
    cells.append({"variant": "linear_rnn", "task": "a",
                  "hparams": {"hidden_size": 169, "eigenvalues": "negative"}})
    cells.append({"variant": "lstm", "task": "a"})  # a file from before hparams were saved
    # refinements differ between tasks: left out; hidden_size=69 is in the name
    assert _settings(cells) == ("Settings not in the names: linear_rnn: "
                                "eigenvalues=negative, hidden_size=169.")
    assert _settings(cells[:2]) == ""


def test_cli_renders_the_saved_file(tree: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_comparison(load_results(tree), tree, tmp_path)
    assert main([str(tmp_path / JSON_FILE)]) == 0
    out = capsys.readouterr().out
    assert out == render_summary(read_json(tmp_path / JSON_FILE))
    assert main([]) == 2


def test_quoted_block() -> None:
    text = "a\n<!-- summary:begin x.json -->\n\n| t |\n\n<!-- summary:end -->\nb"
    assert quoted_block(text, "x.json") == "| t |\n"
    assert quoted_block(text, "y.json") is None


def test_replace_block_round_trips() -> None:
    text = "a\n<!-- summary:begin x.json -->\nold\n<!-- summary:end -->\nb\n"
    new = replace_block(text, "x.json", "| new |\n")
    assert quoted_block(new, "x.json") == "| new |\n"
    assert new.startswith("a\n<!-- summary:begin x.json -->") and new.endswith("end -->\nb\n")
    with pytest.raises(ValueError, match="no <!-- summary:begin y.json --> marker"):
        replace_block(text, "y.json", "")
    with pytest.raises(ValueError, match="has no <!-- summary:end -->"):
        replace_block("<!-- summary:begin x.json -->\n", "x.json", "")


def test_cli_fills_a_markdown_file(tree: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_comparison(load_results(tree), tree, tmp_path)
    source = str(tmp_path / JSON_FILE)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n<!-- summary:begin {source} -->\n<!-- summary:end -->\ntail\n")
    assert main([source, "--into", str(readme)]) == 0
    text = readme.read_text()
    assert quoted_block(text, source) == render_summary(read_json(tmp_path / JSON_FILE))
    assert text.startswith("# x\n") and text.endswith("tail\n")
    other = tmp_path / "notes.txt"
    other.write_text("no markers\n")
    assert main([source, "--into", str(other)]) == 2
    assert other.read_text() == "no markers\n" and "marker to fill" in capsys.readouterr().err
    assert main([source, "--to", str(other)]) == 2


def _pair(other: str, **fields: Any) -> dict[str, Any]:
    return {"task": "t", "other": other, "distinguishable": False, "attainable": True,
            "solves_reference": 8, "solves_other": 1, "mean_reference": 0.95,
            "mean_other": 0.4, "holm_p": 0.5, "survives_holm": False, **fields}


def test_verdict_line_groups_the_pairs_by_what_survives() -> None:
    pairs = [_pair("lstm", distinguishable=True, holm_p=0.01, survives_holm=True),
             _pair("rnn", distinguishable=True, holm_p=0.08, mean_other=0.99, solves_other=8),
             _pair("mamba"),
             _pair("mlstm", distinguishable=True, holm_p=0.02, survives_holm=True,
                   solves_reference=0, solves_other=0, mean_reference=0.2, mean_other=0.25),
             _pair("mingru", attainable=False)]
    assert verdict_line(pairs) == (
        "Distinguishable after Holm: lstm (reference higher), mlstm (reference lower, neither "
        "solved a run). Distinguishable only before Holm: rnn (reference lower). "
        "Not distinguishable: mamba. Too few runs to tell: mingru.")
    assert verdict_line([]) == ""
    old = [{k: v for k, v in _pair("lstm", distinguishable=True).items()
            if k not in ("holm_p", "survives_holm")}]  # a file from before Holm
    assert verdict_line(old) == "Distinguishable: lstm (reference higher)."


def test_the_summary_carries_each_tasks_verdict_line(data: dict[str, Any]) -> None:  # noqa: F811
    text = render_summary(data)
    assert "Distinguishable after Holm: lstm (reference higher)." in text.splitlines()


def test_the_budget_line_states_seeds_lr_rule_and_device(data: dict[str, Any]) -> None:  # noqa: F811
    from prlstm.experiments.reporting.summary import _ranges, budget_line

    budget = data["budget"]
    assert budget["seeds"] == list(range(8)) and budget["tuned_cells"] == 1
    assert budget["cells"] == 2 and budget["lr_grids"] == [[1e-3, 3e-3]]
    line = budget_line(budget)
    assert line.startswith("Budget: seeds 0–7; ")
    assert "lr of 1 of 2 cells chosen on validation from {1e-3, 3e-3} with tuning seed(s) 0–1" \
        in line
    assert budget_line(None) == "" and budget_line({}) == ""
    assert line in render_summary(data).splitlines()
    untuned = {**budget, "tuned_cells": 0, "lr_grids": [], "tuning_seeds": []}
    assert "lr not tuned" in budget_line(untuned)
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0–2, 5, 7–8" and _ranges([3]) == "3"


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file"),
    ("{not json", "not a comparison.json of prlstm report"),
    ('{"cells": [], "pairs": []}', "digest is missing or does not match"),
])
def test_a_bad_comparison_json_gets_one_line(tmp_path: Path, capsys, content: str | None,
                                             message: str) -> None:
    path = tmp_path / JSON_FILE
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"summary: error: {path}: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_an_edited_comparison_json_is_refused(tree: Path, capsys) -> None:  # noqa: F811
    from prlstm.experiments.run.io import with_digest

    write_comparison(load_results(tree), tree, tree)
    saved = read_json(tree / JSON_FILE)
    saved["pairs"][0]["fisher_p"] = 0.5  # a number changed by hand
    (tree / JSON_FILE).write_text(json.dumps(saved), encoding="utf-8")
    assert main([str(tree / JSON_FILE)]) == 2
    assert "digest is missing or does not match" in capsys.readouterr().err
    sealed_again = with_digest({k: v for k, v in saved.items() if k != "digest"})
    del sealed_again["cells"][0]["n"]  # malformed but sealed: still one line, no traceback
    (tree / JSON_FILE).write_text(json.dumps(with_digest(
        {k: v for k, v in sealed_again.items() if k != "digest"})), encoding="utf-8")
    assert main([str(tree / JSON_FILE)]) == 2
    assert "a field is missing or malformed" in capsys.readouterr().err


def test_a_pair_against_the_size_matched_variant_names_it(tmp_path: Path) -> None:
    from prlstm.experiments.reporting.comparison import comparison_data

    results = (_sized("pr_lstm", 128, 232_322, [1.0] * 8) + _sized("pr_lstm", 69, 68_243,
                                                                   [1.0] * 8)
               + _sized("lstm", 128, 67_842, [0.5] * 8) + _sized("lstm", 239, 232_788, [1.0] * 8))
    matched = comparison_data(results, tmp_path)
    rows = _rows(render_summary(matched))
    assert rows["lstm hidden_size=128"][-1].startswith("vs pr_lstm hidden_size=69: ")
    assert rows["lstm hidden_size=128"][-1].endswith("distinguishable, reference higher")
    assert rows["lstm hidden_size=239"][-1].startswith("1 / 1")  # against the reference
    line = verdict_line(matched["pairs"], matched["reference"])
    assert line == ("Distinguishable after Holm: lstm hidden_size=128 vs pr_lstm hidden_size=69 "
                    "(reference higher). Not distinguishable: pr_lstm hidden_size=69, "
                    "lstm hidden_size=239.")


def _two_tasks() -> list[dict[str, Any]]:
    """PR-LSTM at two widths and the LSTM at two on parity_check, and the same runs relabelled
    as cycle_navigation with the wide LSTM solving there too; fitted where recorded."""
    parity = (_sized("pr_lstm", 128, 232_322, [1.0] * 8) + _sized("pr_lstm", 69, 68_243,
                                                                  [1.0] * 8)
              + _sized("lstm", 128, 67_842, [0.5] * 8) + _sized("lstm", 239, 232_788, [0.2] * 8))
    cycle = [{**r, "task": "cycle_navigation", "parameters": r["parameters"] + 771}
             for r in parity]
    for r in cycle:
        if r["config"]["hparams"]["hidden_size"] == 239:
            r["score"] = r["accuracy"][0] = 1.0
    for r in parity + cycle:
        r["fitted"] = r["score"] > 0.4
    return parity + cycle


def test_the_overview_has_a_row_per_variant_and_a_column_per_task(tmp_path: Path) -> None:
    from prlstm.experiments.reporting.comparison import comparison_data

    matched = comparison_data(_two_tasks(), tmp_path)
    text = render_overview(matched)
    head = next(line for line in text.splitlines() if line.startswith("| variant"))
    assert head == ("| variant | parameters | tested against | parity_check · 10 steps | "
                    "cycle_navigation · 10 steps |")
    rows = _rows(text)
    assert list(rows) == ["variant", "pr_lstm hidden_size=128", "pr_lstm hidden_size=69",
                          "lstm hidden_size=128", "lstm hidden_size=239"]
    lo, hi = (f"{100 * x:.0f}" for x in wilson_interval(8, 8))
    assert rows["pr_lstm hidden_size=128"] == [
        "232,322–233,093", "reference", f"8/8 ({lo}–{hi} %) · fit 8", f"8/8 ({lo}–{hi} %) · fit 8"]
    # the narrow LSTM against PR-LSTM at its size: 0/8 against 8/8, below it after Holm
    assert rows["lstm hidden_size=128"][1] == "pr_lstm hidden_size=69"
    assert rows["lstm hidden_size=128"][2].endswith("· fit 8 ↓")
    # the wide LSTM: below on parity_check (fits none), level on cycle_navigation
    assert rows["lstm hidden_size=239"][1] == "pr_lstm hidden_size=128"
    assert rows["lstm hidden_size=239"][2].endswith("· fit 0 ↓")
    assert rows["lstm hidden_size=239"][3] == f"8/8 ({lo}–{hi} %) · fit 8"
    assert "over all 6 pairs" in text and text.startswith("Solved: runs scoring ≥ 90 %")


def test_the_overview_marks_a_higher_variant_and_a_difference_between_failures(
        tmp_path: Path) -> None:
    from prlstm.experiments.reporting.comparison import comparison_data

    above = (_sized("pr_lstm", 128, 232_322, [0.2] * 8) + _sized("lstm", 239, 232_788, [1.0] * 8)
             + _sized("rnn", 479, 232_796, [0.5] * 8))
    rows = _rows(render_overview(comparison_data(above, tmp_path)))
    assert rows["lstm"][2].endswith("%) ↑")  # no fit recorded: no fit count
    assert rows["rnn"][2].endswith("%) ↑\\*")  # neither solved: scores only
    assert rows["pr_lstm"][2] == "0/8 (0–32 %)"


def test_cli_fills_an_overview_block(tree: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_comparison(load_results(tree), tree, tmp_path)
    source = str(tmp_path / JSON_FILE)
    readme = tmp_path / "README.md"
    readme.write_text(f"<!-- overview:begin {source} -->\n<!-- overview:end -->\n"
                      f"<!-- summary:begin {source} -->\nkept\n<!-- summary:end -->\n")
    assert main([source, "--overview", "--into", str(readme)]) == 0
    text = readme.read_text()
    saved = read_json(tmp_path / JSON_FILE)
    assert quoted_block(text, source, "overview") == render_overview(saved)
    assert quoted_block(text, source) == "kept\n"
    assert main([source, "--overview"]) == 0
    assert capsys.readouterr().out == render_overview(saved)
    with pytest.raises(ValueError, match="has no <!-- overview:end -->"):
        replace_block(f"<!-- overview:begin {source} -->\n<!-- summary:end -->", source, "",
                      "overview")
