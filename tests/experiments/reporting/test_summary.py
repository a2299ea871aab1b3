"""The README summary of a fair comparison, rendered from ``comparison.json``'s numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.comparison import JSON_FILE, write_comparison
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.reporting.stats import cell_stats, wilson_interval
from prlstm.experiments.reporting.summary import main, quoted_block, render_summary
from prlstm.experiments.run.io import read_json

from .test_comparison import LSTM_SCORES, PR_PARAMETERS, PR_SCORES, data, tree  # noqa: F401


def _rows(text: str) -> dict[str, list[str]]:
    return {cells[0]: cells[1:] for line in text.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_rows_carry_the_cells_intervals_and_p_values(data: dict[str, Any]) -> None:  # noqa: F811
    rows = _rows(render_summary(data))
    lo, hi = wilson_interval(7, 8)
    pr = cell_stats(PR_SCORES)
    assert rows["pr_lstm"] == [
        f"{PR_PARAMETERS:,}", "6", "1e-3", f"7/8 ({100 * lo:.0f}–{100 * hi:.0f} %)",
        f"{100 * pr.mean:.1f} ({100 * pr.mean_low:.1f}–{100 * pr.mean_high:.1f})", "reference"]
    (pair,) = data["pairs"]
    lstm = cell_stats(LSTM_SCORES)
    assert rows["lstm"][2] == "untuned"
    assert rows["lstm"][4] == (f"{100 * lstm.mean:.1f} ({100 * lstm.mean_low:.1f}–"
                               f"{100 * lstm.mean_high:.1f})")
    assert rows["lstm"][5] == (f"Fisher p = {pair['fisher_p']:.2g}, permutation p = "
                               f"{pair['permutation_p']:.2g}: {pair['verdict']}")
    assert "**parity_check**" in render_summary(data)


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
