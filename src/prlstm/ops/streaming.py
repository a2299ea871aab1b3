"""The streaming backend: the binary-counter form of the schedule (model.md §4).

The stream keeps a stack of entries ``(size, root, fold)``: an aligned block's root and the
fold of every block up to and including it (= the output at the block's last position).
A new token becomes a size-1 block; while the top entry holds a block of the same size it is
popped and merged (``older ⊕ newer``); the output is ``fold_below ⊕ root``. Amortised ~2
combines per token and ``popcount(t + 1)`` entries of state.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from prlstm.ops.common import Combine, State, at


class Entry(NamedTuple):
    """One stack entry; ``root`` and ``fold`` are states of shape ``(B, H)``."""

    size: int
    root: State
    fold: State


Stack = tuple[Entry, ...]


def push(combine: Combine, stack: Stack, leaf: State) -> tuple[State, Stack]:
    """Feed one leaf state ``(B, H)``; returns ``(output state, new stack)`` (pure)."""
    entries, root, size = list(stack), leaf, 1
    while entries and entries[-1].size == size:
        root = combine(entries.pop().root, root)
        size *= 2
    out = combine(entries[-1].fold, root) if entries else root
    entries.append(Entry(size, root, out))
    return out, tuple(entries)


def push_sequential(combine: Combine, stack: Stack, leaf: State) -> tuple[State, Stack]:
    """The ``sequential`` schedule: the stack holds the single running fold."""
    out = combine(stack[0].fold, leaf) if stack else leaf
    return out, (Entry(stack[0].size + 1 if stack else 1, out, out),)


def scan(combine: Combine, leaves: State, schedule: str = "tree") -> State:
    """Prefix states ``(B, T, H)`` by streaming the leaves one at a time."""
    step = push_sequential if schedule == "sequential" else push
    stack: Stack = ()
    outs = []
    for t in range(leaves[0].shape[1]):
        out, stack = step(combine, stack, at(leaves, t))
        outs.append(out)
    return tuple(torch.stack([o[i] for o in outs], dim=1) for i in range(len(leaves)))
