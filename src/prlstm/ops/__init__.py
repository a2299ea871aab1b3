"""Tree-scan backends. Every backend has the same signature::

    scan(combine, leaves, schedule="tree") -> states

``combine(left, right) -> state`` acts on states (tuples of ``(..., H)`` tensors) of any
leading shape; ``leaves`` is a state of shape ``(B, T, H)``; the result holds the prefix
state of every position, shape ``(B, T, H)``. ``reference`` is the definition, the others are
tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

from prlstm.ops import chunked, levelwise, reference, streaming
from prlstm.ops import triton as triton_backend

BACKENDS = ("reference", "levelwise", "chunked", "streaming", "triton")
SCHEDULES = ("tree", "sequential")

_SCANS: dict[str, Callable] = {
    "reference": reference.scan,
    "levelwise": levelwise.scan,
    "chunked": chunked.scan,
    "streaming": streaming.scan,
    "triton": triton_backend.scan,
}


def get_scan(backend: str) -> Callable:
    """The scan function of a backend name (one of :data:`BACKENDS`)."""
    try:
        return _SCANS[backend]
    except KeyError:
        raise ValueError(f"backend must be one of {BACKENDS} or 'auto', got {backend!r}") from None


__all__ = ["BACKENDS", "SCHEDULES", "chunked", "get_scan", "levelwise", "reference", "streaming",
           "triton_backend"]
