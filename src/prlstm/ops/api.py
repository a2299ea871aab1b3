"""The one scan signature every backend shares, and the logic they all follow.

::

    outputs, state = backend.scan(combine, leaves, *, schedule="tree", state=None,
                                  lengths=None, return_outputs=True, return_state=False)

``combine(left, right) -> state`` acts on states (tuples of ``(..., H)`` tensors) of any
leading shape; ``leaves`` is a state ``(B, T, H)``. ``outputs`` holds the prefix state of
every position ``(B, T, H)`` (``None`` with ``return_outputs=False``); ``state`` is the
stream stack after the last token (:mod:`prlstm.ops.stacks`; ``None`` unless
``return_state``). ``state=`` continues a stream: the outputs are then the prefix states at
the absolute positions ``t0 .. t0 + T - 1``. ``lengths`` ``(B,)`` marks a right-padded batch:
row b's returned state is the one after its own ``lengths[b]`` tokens (outputs never depend
on padding).

A backend supplies four pieces — :meth:`~ScanBackend.prefix` (outputs only),
:meth:`~ScanBackend.sweep` (block roots and outputs), :meth:`~ScanBackend.upsweep` (block
roots only, for the final states) and :meth:`~ScanBackend.extend` (continue a stack with
``T`` tokens) — and :meth:`ScanBackend.scan` routes every call. Paths every backend shares:

* one token continuing a uniform stack is the binary-counter push (the ``T = 1`` case of
  every backend's continuation: the same combines);
* a *ragged* stack (rows at different positions) continues one token at a time
  (:func:`prlstm.ops.push.push_ragged`, one batched combine per carry level);
* the ``sequential`` schedule is one running fold, the same loop on every backend.
"""

from __future__ import annotations

from torch import Tensor

from prlstm.ops import stacks
from prlstm.ops.common import Combine, State, sequential_scan, stack_time
from prlstm.ops.push import push, push_ragged
from prlstm.ops.stacks import Carry, RaggedStack, Stack


class ScanBackend:
    """A tree-scan backend: override the pieces, call :meth:`scan`."""

    name = "base"

    def prefix(self, combine: Combine, leaves: State) -> State:
        """All prefix states ``(B, T, H)``."""
        return self.sweep(combine, leaves)[1]

    def sweep(self, combine: Combine, leaves: State) -> tuple[list[State], State]:
        """Block roots per level (``roots[k]`` ``(B, T >> k, H)``) and all prefix states."""
        raise NotImplementedError

    def upsweep(self, combine: Combine, leaves: State) -> list[State] | None:
        """Block roots only, or ``None`` when the backend has no cheaper final-state path."""
        return None

    def extend(self, combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
        """Continue a non-empty uniform ``stack`` with ``leaves`` ``(B, T, H)``."""
        raise NotImplementedError

    def scan(self, combine: Combine, leaves: State, *, schedule: str = "tree",
             state: Carry | None = None, lengths: Tensor | None = None,
             return_outputs: bool = True, return_state: bool = False
             ) -> tuple[State | None, Carry | None]:
        """Prefix states of ``leaves`` ``(B, T, H)`` and/or the stack after them (see the
        module docstring)."""
        if state is not None and lengths is not None:
            raise ValueError("scan takes lengths (a new right-padded batch) or state (a stream "
                             "to continue), not both")
        if schedule == "sequential":
            out = sequential_scan(combine, leaves,
                                  None if state is None else stacks.sequential_init(state))
            return out, (_sequential_after(out, state, lengths) if return_state else None)
        if isinstance(state, RaggedStack):
            out, new = _ragged_steps(combine, state, leaves)
            return out, (new if return_state else None)
        if state:
            out, new = self._continue(combine, state, leaves)
            return out, (new if return_state else None)
        if not return_state:
            return self.prefix(combine, leaves), None
        if not return_outputs:
            return None, self._final(combine, leaves, lengths)
        roots, out = self.sweep(combine, leaves)
        if lengths is None:
            return out, stacks.from_sweep(roots, out, leaves[0].shape[1])
        return out, stacks.ragged_from_sweep(roots, out, lengths)

    def _continue(self, combine: Combine, stack: Stack, leaves: State) -> tuple[State, Stack]:
        if leaves[0].shape[1] == 1:
            out, new = push(combine, stack, tuple(s[:, 0] for s in leaves))
            return tuple(o[:, None] for o in out), new
        return self.extend(combine, stack, leaves)

    def _final(self, combine: Combine, leaves: State, lengths: Tensor | None) -> Carry:
        """The stack after the leaves by folding block roots (no outputs)."""
        roots = self.upsweep(combine, leaves)
        if roots is None:
            roots, out = self.sweep(combine, leaves)
            if lengths is None:
                return stacks.from_sweep(roots, out, leaves[0].shape[1])
            return stacks.ragged_from_sweep(roots, out, lengths)
        if lengths is None:
            return stacks.fold_roots(combine, roots, leaves[0].shape[1])
        return stacks.ragged_fold_roots(combine, roots, lengths)


def _ragged_steps(combine: Combine, stack: RaggedStack, leaves: State
                  ) -> tuple[State, RaggedStack]:
    """A ragged stack continued one token at a time."""
    outs = []
    for t in range(leaves[0].shape[1]):
        out, stack = push_ragged(combine, stack, tuple(s[:, t] for s in leaves))
        outs.append(out)
    return stack_time(outs), stack


def _sequential_after(out: State, state: Carry | None, lengths: Tensor | None) -> Carry:
    """The ``sequential`` stack after a pass that may continue ``state``."""
    if isinstance(state, RaggedStack):
        fold = tuple(s[:, -1:] for s in out)
        return RaggedStack(fold, fold, state.positions + out[0].shape[1])
    if state:
        fold = tuple(s[:, -1] for s in out)
        return (stacks.Entry(stacks.consumed(state) + out[0].shape[1], fold, fold),)
    return stacks.sequential_stack(out, lengths)
