"""Tree-scan backends, all with the one signature of :mod:`prlstm.ops.api`::

    outputs, state = scan(combine, leaves, *, schedule="tree", state=None, lengths=None,
                          return_outputs=True, return_state=False)

``leaves`` is a state ``(B, T, H)``; ``outputs`` the prefix state of every position
``(B, T, H)``; ``state`` the stream stack after the last token. ``reference`` is the
definition, the others are tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

from prlstm.config import BACKENDS, SCHEDULES
from prlstm.ops import chunked, levelwise, reference, streaming
from prlstm.ops import triton as triton_backend
from prlstm.ops.api import ScanBackend

_BACKENDS: dict[str, ScanBackend] = {
    "reference": reference.BACKEND,
    "levelwise": levelwise.BACKEND,
    "chunked": chunked.BACKEND,
    "streaming": streaming.BACKEND,
    "triton": triton_backend.BACKEND,
}


def get_backend(backend: str) -> ScanBackend:
    """The backend object of a name (one of :data:`BACKENDS`)."""
    try:
        return _BACKENDS[backend]
    except KeyError:
        raise ValueError(f"backend must be one of {BACKENDS} or 'auto', got {backend!r}") from None


def get_scan(backend: str) -> Callable:
    """The scan function of a backend name (one of :data:`BACKENDS`)."""
    return get_backend(backend).scan


__all__ = ["BACKENDS", "SCHEDULES", "ScanBackend", "chunked", "get_backend", "get_scan",
           "levelwise", "reference", "streaming", "triton_backend"]
