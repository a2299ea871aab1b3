"""The shapes of names that become directory names or import targets (no torch imports).

Task and model names read from files end up in paths (``RUN_DIR/<task>/<model>/…``), so they
are checked against these before use: no separators, no leading dot, nothing but letters,
digits, ``_``, ``-`` and inner dots.
"""

from __future__ import annotations

import re
from pathlib import Path

#: A plain task or model name.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
#: ``package.module:attribute`` (the attribute may be dotted).
IMPORT_PATH_RE = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")


def safe_stem(name: str) -> str:
    """``name`` as one safe file-name part: every character but letters, digits, ``_``, ``-``
    and ``.`` becomes ``_``, and leading dots go (``"../x"`` -> ``"_x"``); a valid
    :data:`NAME_RE` name is returned unchanged."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).lstrip(".")
    return stem or "_"


def file_in(directory: str | Path, prefix: str, name: str, suffix: str) -> Path:
    """``directory / f"{prefix}{safe_stem(name)}{suffix}"``, checked to resolve to a file
    directly inside ``directory`` (so a name read from a file never writes elsewhere).

    Raises:
        ValueError: the path would leave ``directory``.
    """
    root = Path(directory)
    path = root / f"{prefix}{safe_stem(name)}{suffix}"
    if path.resolve().parent != root.resolve():
        raise ValueError(f"file name {path.name!r} (from name {name!r}) leaves {root}")
    return path
