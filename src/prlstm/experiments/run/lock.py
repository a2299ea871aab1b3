"""One writer per directory: an advisory lock on ``OUT/.sweep.lock`` (a sweep's results
directory) or ``RUN_DIR/.train.lock`` (one training run, :data:`TRAIN_LOCK`).

Two sweeps writing the same run directories at once would train the same run twice and
interleave their checkpoints and logs. :func:`lock_dir` takes an exclusive, non-blocking
``fcntl.flock`` on a lock file in the directory; a second sweep on the same directory is
refused at once with a message naming the holder. The kernel drops the lock when its process
exits, however it exits (SIGKILL included), so a killed sweep never leaves a stale lock and
resuming it works as before. Where ``fcntl`` is missing (Windows) the lock file is created
with ``O_EXCL`` instead and removed on exit (a crash then leaves it behind; the message says
which file to delete).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".sweep.lock"
#: The lock of one run directory, held by ``prlstm train`` and ``prlstm lm train``.
TRAIN_LOCK = ".train.lock"


class DirectoryLocked(FileExistsError):
    """Another process holds the lock of this results directory."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "unknown process"


def _refuse(root: Path, path: Path, what: str, instead: str) -> DirectoryLocked:
    return DirectoryLocked(f"{root} is in use by another {what} ({_holder(path)}); wait for it "
                           f"to finish or {instead} (lock file {path})")


@contextlib.contextmanager
def lock_dir(root: str | os.PathLike[str], *, name: str = LOCK_FILE, what: str = "sweep",
             instead: str = "choose another --out") -> Iterator[Path]:
    """Hold the exclusive lock ``root/name`` for the ``with`` block.

    ``what`` names the kind of holder and ``instead`` the way out, both in the refusal (e.g.
    ``what="training run", instead="use another run directory"``).

    Raises:
        DirectoryLocked: another process (or another ``lock_dir`` in this one) holds it.
    """
    root = Path(root)
    path = root / name
    me = f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    if fcntl is None:  # pragma: no cover - not POSIX
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise _refuse(root, path, what, instead) from None
        try:
            os.write(fd, me.encode("utf-8"))
            os.close(fd)
            yield path
        finally:
            path.unlink(missing_ok=True)
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(root, path, what, instead) from None
        os.ftruncate(fd, 0)
        os.write(fd, me.encode("utf-8"))
        yield path
    finally:
        os.close(fd)  # releases the flock


def lock_run_dir(run_dir: str | os.PathLike[str]) -> contextlib.AbstractContextManager[Path]:
    """The lock of one training run directory (:data:`TRAIN_LOCK`), held while ``prlstm
    train`` or ``prlstm lm train`` writes it; a second trainer on the directory is refused.

    Raises:
        DirectoryLocked: another trainer holds it.
    """
    return lock_dir(run_dir, name=TRAIN_LOCK, what="training run",
                    instead="use another run directory")
