"""Graceful Ctrl-C: the first SIGINT asks training to stop after the current update.

Stopping only at an update boundary means the checkpoint written on Ctrl-C is consistent (an
interrupt inside ``optimizer.step`` could otherwise leave half-updated weights). A second
Ctrl-C interrupts immediately. Outside the main thread signals cannot be hooked and the
default behaviour is kept.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class StopRequest:
    """Context manager that turns the first SIGINT into ``self.requested = True``."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: object = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False
