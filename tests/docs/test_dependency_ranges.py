"""Every dependency range in pyproject.toml is bounded both ways and recorded in the docs.

``docs/dependencies.md`` holds one row per dependency: its range, the oldest and the newest
release the suite was run with (``tools/check_ranges.py``) and the date. A range whose bounds
differ from its row fails here, so a cap cannot be raised (nor a floor lowered) without the
check being rerun and recorded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
requirements = pytest.importorskip("packaging.requirements")
specifiers = pytest.importorskip("packaging.specifiers")
version = pytest.importorskip("packaging.version")
utils = pytest.importorskip("packaging.utils")

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "dependencies.md"
LOWER = {">=", "==", "~=", "==="}
UPPER = {"<=", "<", "==", "~=", "==="}


def _declared() -> list[tuple[str, requirements.Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = [("core", requirements.Requirement(s)) for s in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out += [(extra, requirements.Requirement(s)) for s in reqs]
    return out


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table() -> dict[str, dict[str, str]]:
    """The rows of the table whose header starts with ``Package``, keyed by canonical name."""
    lines = DOC.read_text().splitlines() if DOC.is_file() else []
    start = next((i for i, ln in enumerate(lines)
                  if ln.startswith("|") and _cells(ln)[0].lower() == "package"), None)
    if start is None:  # reported by test_table_lists_exactly_the_declared_dependencies
        return {}
    header = [h.lower() for h in _cells(lines[start])]
    rows: dict[str, dict[str, str]] = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        row = dict(zip(header, (c.strip("` ") for c in _cells(ln)), strict=True))
        rows[utils.canonicalize_name(row["package"])] = row
    return rows


DECLARED = _declared()
ROWS = _table()
NAMES = sorted({utils.canonicalize_name(r.name) for _, r in DECLARED})


def _ranges(name: str) -> set[specifiers.SpecifierSet]:
    return {r.specifier for _, r in DECLARED if utils.canonicalize_name(r.name) == name}


@pytest.mark.parametrize("group,req", [pytest.param(g, r, id=f"{g}:{r.name}")
                                       for g, r in DECLARED])
def test_declared_range_is_bounded(group: str, req) -> None:
    ops = {s.operator for s in req.specifier}
    assert ops & LOWER, f"{group}: {req} has no lower bound (>=X, tested by check_ranges.py)"
    assert ops & UPPER, f"{group}: {req} has no upper bound (<=X or <Y, the newest tested)"


@pytest.mark.parametrize("name", NAMES)
def test_same_range_in_every_group(name: str) -> None:
    assert len(_ranges(name)) == 1, f"{name} is declared with different ranges: {_ranges(name)}"


def test_table_lists_exactly_the_declared_dependencies() -> None:
    assert ROWS, f"{DOC.relative_to(ROOT)} has no table whose header starts with `Package`"
    assert sorted(ROWS) == NAMES, "docs/dependencies.md's table and pyproject.toml disagree"


@pytest.mark.parametrize("name", NAMES)
def test_table_row_matches_pyproject(name: str) -> None:
    row = ROWS.get(name)
    assert row is not None, f"{name} has no row in docs/dependencies.md"
    ranges = _ranges(name)
    assert len(ranges) == 1, f"{name} is declared with different ranges: {ranges}"
    declared = ranges.pop()
    recorded = specifiers.SpecifierSet(row["range"])
    assert recorded == declared, (f"{name}: pyproject says {declared}, docs/dependencies.md "
                                  f"says {recorded}; rerun tools/check_ranges.py and record it")
    oldest, newest = version.Version(row["oldest tested"]), version.Version(row["newest tested"])
    lows = [version.Version(s.version) for s in declared if s.operator in LOWER]
    assert oldest == max(lows), f"{name}: lower bound {max(lows)} but oldest tested {oldest}"
    assert declared.contains(newest, prereleases=True), f"{name}: {newest} is not in {declared}"
    caps = [version.Version(s.version) for s in declared if s.operator in {"<=", "=="}]
    if caps:
        assert newest == min(caps), f"{name}: cap {min(caps)} but newest tested {newest}"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["checked"]), f"{name}: no date checked"
