"""Fuzzed result.json fields and names: the report never aborts and never writes elsewhere.

A field replaced by any JSON value (or removed) either still reads as a valid result or makes
``load_results`` skip that file with one warning naming the file and the field; the report of
the tree is written either way. A name read from a file, whatever its characters, becomes a
file name inside the output directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from prlstm.experiments.reporting.report import write_report
from prlstm.experiments.reporting.results import load_results, result_problem
from prlstm.experiments.run.evaluate import RESULT_FILE
from prlstm.naming import NAME_RE, file_in, safe_stem
from tests.properties.strategies import examples

VALID: dict[str, Any] = {
    "task": "parity_check", "level": "regular", "model": "lstm", "seed": 0, "lr": 0.001,
    "steps": 10, "score": 0.375, "solved": False, "in_range_accuracy": 1.0, "fitted": True,
    "steps_to_generalise": None, "train_length": 2, "lengths": [1, 2, 3, 4],
    "accuracy": [1.0, 1.0, 0.5, 0.25], "model_config": {"hidden_size": 8},
    "config": {"hparams": {}, "task_options": {}}, "run_id": "parity_check/lstm/s0",
    "parameters": 100, "train_seconds": 1.5, "eval_seconds": 0.5, "validation": None,
    "extra_lengths": {"per_length": 4, "accuracy": {"1000": 0.5}},
}
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


@examples(60)
@given(changes=st.dictionaries(st.sampled_from(sorted(VALID)), JSON | st.just("<removed>"),
                               min_size=1, max_size=3))
def test_any_field_value_is_loaded_or_skipped_with_one_warning(changes: dict[str, Any]) -> None:
    result = dict(VALID)
    for key, value in changes.items():
        if value == "<removed>":
            result.pop(key)
        else:
            result[key] = value
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        for i, data in enumerate((VALID, result)):
            (runs / f"run{i}").mkdir(parents=True)
            (runs / f"run{i}" / RESULT_FILE).write_text(json.dumps(data), encoding="utf-8")
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            loaded = load_results(runs)
        err = stderr.getvalue()
        if len(loaded) == 1:  # skipped: one line naming the file and a field
            assert err.count("\n") == 1 and "run1" in err and "field '" in err, err
            assert result_problem(result) is not None
        else:
            assert len(loaded) == 2 and err == "" and result_problem(result) is None
        with contextlib.redirect_stderr(io.StringIO()):
            table, written = write_report(runs, Path(tmp) / "rep", plots=False)
        assert "parity_check" in table and written


@examples(100)
@given(name=st.text(max_size=30))
def test_any_name_becomes_a_file_inside_the_directory(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "out"
        root.mkdir()
        path = file_in(root, "accuracy_", name, ".png")
        assert path.parent == root and path.resolve().parent == root.resolve()
        assert "/" not in path.name and not safe_stem(name).startswith(".")
        if NAME_RE.fullmatch(name):
            assert path.name == f"accuracy_{name}.png"  # valid names keep their file names


def test_nan_score_and_accuracies_are_kept() -> None:
    """NaN is what evaluation writes when no length lies beyond the training range."""
    nan = {**VALID, "score": math.nan, "accuracy": [1.0, math.nan, 1.0, 1.0]}
    assert result_problem(nan) is None
