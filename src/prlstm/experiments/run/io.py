"""Crash-safe file output: atomic writes (temp file + ``os.replace``) and writable-dir checks.

A reader never sees a half-written ``result.json`` or ``checkpoint.json``: every file is first
written to a temporary sibling in the same directory, flushed to disk, then renamed over the
target, which POSIX guarantees to be atomic.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (with parents) if needed and check that files can be created in it.

    Raises:
        FileExistsError: ``path`` (or a parent) exists and is not a directory.
        PermissionError: the directory cannot be created or written to.
    """
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise FileExistsError(f"output path {target} exists and is not a directory") from err
    except NotADirectoryError as err:
        raise FileExistsError(f"output path {target} has a parent that is not a directory") from err
    except PermissionError as err:
        raise PermissionError(f"cannot create output directory {target}: "
                              "permission denied") from err
    try:
        handle, probe = tempfile.mkstemp(dir=target, prefix=".write-test-")
    except OSError as err:
        raise PermissionError(f"output directory {target} is not writable: {err.strerror}") from err
    os.close(handle)
    os.unlink(probe)
    return target


def _umask_mode() -> int:
    """Permissions a plain ``open`` would give a new file (mkstemp makes them 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], writer: Callable[[IO[Any]], None], *,
                 binary: bool = False) -> None:
    """Write a file by calling ``writer(handle)`` on a temp file, then rename it into place.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    text_args: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}

    def save(tmp_name: str) -> None:
        with open(tmp_name, "wb" if binary else "w", **text_args) as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())

    atomic_write_file(path, save)


def atomic_write_file(path: str | os.PathLike[str], save: Callable[[str], None]) -> None:
    """Atomically produce ``path`` with a library function ``save(filename)`` that writes a file."""
    target = Path(path)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save(tmp_name)
        os.chmod(tmp_name, _umask_mode())
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Atomically write ``data`` as indented JSON (keys in insertion order)."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2) + "\n"))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a malformed file raises ``ValueError`` naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (corrupt or truncated?): {err}") from err


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Atomically write a CSV file with a header row."""

    def writer(f: IO[str]) -> None:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)

    atomic_write(path, writer)


DIGEST_KEY = "digest"


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in data.items() if k != DIGEST_KEY}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_digest(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` plus a ``digest`` entry: the SHA-256 of its canonical JSON (see :func:`intact`)."""
    return {**data, DIGEST_KEY: _digest(data)}


def write_digested_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Atomically write ``data`` (any old digest dropped) with its digest, last."""
    write_json(path, with_digest({k: v for k, v in data.items() if k != DIGEST_KEY}))


def sealed(data: Any) -> bool:
    """Whether ``data`` is a dict that carries its digest and still matches it."""
    return isinstance(data, dict) and DIGEST_KEY in data and intact(data)


def intact(data: Any) -> bool:
    """Whether a dict read back from JSON still matches its ``digest`` (a bit flip that leaves
    valid JSON, e.g. a digit changed, is caught here). Files written before digests existed
    (no ``digest`` key) count as intact."""
    if not isinstance(data, dict) or DIGEST_KEY not in data:
        return isinstance(data, dict)
    return data[DIGEST_KEY] == _digest(data)


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a CSV file with a header row into a list of dicts (values as strings); bytes that
    are not UTF-8 (a damaged file) become U+FFFD instead of raising."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return list(csv.DictReader(f))
