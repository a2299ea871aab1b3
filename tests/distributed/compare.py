"""Comparing two results directories run by run (scores, per-length accuracy, final weights)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from prlstm.experiments.run.checkpoint import read_manifest
from prlstm.experiments.run.io import read_json


def results(out: Path) -> dict[str, dict[str, Any]]:
    """``run id -> result.json`` for every run under ``out``."""
    return {str(p.parent.relative_to(out)): read_json(p) for p in out.rglob("result.json")}


def assert_same_runs(got: Path, want: Path, only: Iterable[str] | None = None) -> None:
    """Same run ids (or ``want``'s runs in ``only``), equal scores and accuracies, identical
    final weights."""
    a, b = results(got), results(want)
    if only is not None:
        b = {k: v for k, v in b.items() if k in set(only)}
    assert sorted(a) == sorted(b) and a
    for run_id in a:
        assert a[run_id]["score"] == b[run_id]["score"], run_id
        assert a[run_id]["accuracy"] == b[run_id]["accuracy"], run_id
        wa = load_file(got / run_id / read_manifest(got / run_id)["weights"])
        wb = load_file(want / run_id / read_manifest(want / run_id)["weights"])
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), run_id
