"""The PR-LSTM tree schedule as plain index math (docs/model.md#the-block-schedule).

Everything here is pure Python on integers: which aligned blocks make up a prefix, how many
combines each evaluation strategy performs, and the exact bracketing of every prefix state.
The tensor backends in :mod:`prlstm.ops` follow these definitions and the tests pin them.
"""

from __future__ import annotations

__all__ = [
    "prefix_blocks",
    "num_levels",
    "level_sizes",
    "scan_combines",
    "final_state_combines",
    "bracketing",
    "stack_blocks",
]


def _check_length(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def prefix_blocks(t: int) -> list[tuple[int, int]]:
    """Aligned blocks ``(start, size)`` whose left fold is the state at position ``t``.

    The set bits of ``m = t + 1``, most significant first, name blocks laid left to right
    from position 0: ``prefix_blocks(12) == [(0, 8), (8, 4), (12, 1)]``.
    """
    _check_length("t", t, 0)
    m, start, blocks = t + 1, 0, []
    for k in range(m.bit_length() - 1, -1, -1):
        if m >> k & 1:
            blocks.append((start, 1 << k))
            start += 1 << k
    return blocks


def stack_blocks(n: int) -> list[tuple[int, int]]:
    """Blocks held by the streaming stack after ``n`` tokens (bottom first); ``[]`` for 0."""
    _check_length("n", n, 0)
    return prefix_blocks(n - 1) if n else []


def num_levels(n: int) -> int:
    """Number of tree levels above the leaves for length ``n``: ``floor(log2 n)``."""
    _check_length("n", n, 1)
    return n.bit_length() - 1


def level_sizes(n: int) -> list[int]:
    """Number of complete aligned blocks of size ``2**k`` in ``n`` positions, k = 0..levels."""
    return [n >> k for k in range(num_levels(n) + 1)]


def scan_combines(n: int) -> int:
    """Combines the two-sweep scan performs for all ``n`` prefix states.

    Up-sweep: one per complete aligned block of size >= 2. Down-sweep: one per position
    whose lowest set bit of ``t + 1`` is at level k and which is not the first block
    of its level. Equals ``2n - 2 - log2(n)`` when ``n`` is a power of two.
    """
    sizes = level_sizes(n)
    up = sum(sizes[1:])
    down = sum(max(0, (s + 1) // 2 - 1) for s in sizes[:-1])
    return up + down


def final_state_combines(n: int) -> int:
    """Combines needed for the final state only: the up-sweep plus the fold of n's blocks."""
    sizes = level_sizes(n)
    return sum(sizes[1:]) + bin(n).count("1") - 1


def bracketing(t: int, names: list[str] | None = None, op: str = "+") -> str:
    """The exact bracketed expression of the state at position ``t``.

    ``bracketing(5) == "((x0+x1)+(x2+x3))+(x4+x5)"``. Leaves are named ``x{j}`` unless
    ``names`` is given. Useful in docs and as an oracle in tests.
    """
    _check_length("t", t, 0)
    leaf = (lambda j: names[j]) if names is not None else (lambda j: f"x{j}")

    def root(start: int, size: int) -> str:
        if size == 1:
            return leaf(start)
        half = size // 2
        return f"({root(start, half)}{op}{root(start + half, half)})"

    parts = [root(s, z) for s, z in prefix_blocks(t)]
    expr = parts[0]
    for p in parts[1:]:
        expr = f"({expr}{op}{p})"
    # Drop one redundant pair of outer brackets for readability.
    if expr.startswith("(") and _matching(expr, 0) == len(expr) - 1:
        expr = expr[1:-1]
    return expr


def _matching(expr: str, i: int) -> int:
    depth = 0
    for j in range(i, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[j], 0)
        if depth == 0:
            return j
    return -1
