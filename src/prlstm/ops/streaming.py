"""The streaming backend: the binary-counter form of the schedule (docs/model.md#streaming).

The stream keeps a stack of entries ``(size, root, fold)`` (:mod:`prlstm.ops.stacks`) and
feeds the leaves one at a time through :func:`prlstm.ops.push.push`: amortised ~2 combines
per token and ``popcount(t + 1)`` entries of state. The stack it ends with is the stream
state; the block roots it completes on the way are the up-sweep's.
"""

from __future__ import annotations

from prlstm.ops.api import ScanBackend
from prlstm.ops.common import Combine, State, stack_time
from prlstm.ops.push import push
from prlstm.ops.stacks import Stack


def _stream(combine: Combine, stack: Stack, leaves: State,
            record: list[list[State]] | None = None) -> tuple[State, Stack]:
    """Push every leaf of ``(B, T, H)`` onto ``stack``; outputs ``(B, T, H)`` and the stack."""
    outs = []
    for t in range(leaves[0].shape[1]):
        out, stack = push(combine, stack, tuple(s[:, t] for s in leaves), record)
        outs.append(out)
    return stack_time(outs), stack


class Streaming(ScanBackend):
    """One token at a time through the binary-counter stack."""

    name = "streaming"

    def prefix(self, combine: Combine, leaves: State) -> State:
        return _stream(combine, (), leaves)[0]

    def sweep(self, combine: Combine, leaves: State) -> tuple[list[State], State]:
        record: list[list[State]] = [[]]
        out, _ = _stream(combine, (), leaves, record)
        return [stack_time(level) for level in record], out

    def extend(self, combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
        return _stream(combine, stack, leaves)


BACKEND = Streaming()
scan = BACKEND.scan
