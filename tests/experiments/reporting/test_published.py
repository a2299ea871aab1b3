"""The published-scores table: only known cells, clearly marked, sources named."""

from __future__ import annotations

from prlstm import models, tasks
from prlstm.experiments.reporting.published import PUBLISHED, SOURCES, published
from prlstm.experiments.reporting.report import markdown_table, published_table


def _result(task: str, model: str) -> dict:
    return {"task": task, "level": tasks.get(task).level, "model": model, "seed": 0,
            "lr": 1e-3, "steps": 4, "score": 0.5, "train_length": 2, "accuracy": [1, 1, .5],
            "config": {}}


def test_published_data_is_well_formed() -> None:
    for task, row in PUBLISHED.items():
        assert task in tasks.names()
        for model, (score, source) in row.items():
            assert model in models.names() and 0 <= score <= 100 and source in SOURCES
    assert published("parity_check", "transformer") == (52.0, "NNCH")
    assert published("bucket_sort", "pr_lstm") == (99.4, "PR-LSTM")
    assert published("even_pairs", "pr_lstm") is None  # not found in a source: blank


def test_published_table_is_opt_in_and_marked() -> None:
    results = [_result("parity_check", "transformer"), _result("parity_check", "pr_lstm"),
               _result("even_pairs", "lstm")]
    assert "Published" not in markdown_table(results)
    text = markdown_table(results, with_published=True)
    assert "NOT measured here" in text and "52.0 (NNCH)" in text
    lines = published_table(results)
    assert not any(line.startswith("| even_pairs") for line in lines)  # nothing known there
    assert published_table([_result("even_pairs", "lstm")]) == []
