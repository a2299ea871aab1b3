"""Bit-string helpers for the big-integer tasks (binary_addition, binary_multiplication,
compute_sqrt).

Rows are converted to and from Python ints through ASCII byte strings, which numpy packs and
unpacks for the whole batch at once; only the int conversion itself runs per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np

from prlstm.tasks.base import Task, mask_through_terminator

__all__ = [
    "rows_as_bytes",
    "strings_to_array",
    "sample_nonzero_parts",
    "sample_binary_operands",
    "split_operands",
    "little_endian_terminated",
    "BinaryOperationTask",
    "TERMINATOR",
]

TERMINATOR = 2  # the id of "$", which ends a binary result


def rows_as_bytes(inputs: np.ndarray) -> list[bytes]:
    """(B, T) ids in 0..9 -> one ASCII string per row (id 0 -> b"0", 1 -> b"1", 2 -> b"2")."""
    chars = inputs.astype(np.uint8) + ord("0")  # (B, T)
    t = chars.shape[1]
    flat = chars.tobytes()
    return [flat[i : i + t] for i in range(0, len(flat), t)]


def strings_to_array(strings: list[str], width: int) -> np.ndarray:
    """Strings of ``width`` ASCII digits -> (B, width) int64 array of the digit values."""
    joined = "".join(strings).encode("ascii")
    assert len(joined) == width * len(strings)
    digits = np.frombuffer(joined, dtype=np.uint8).reshape(len(strings), width)  # (B, width)
    return digits.astype(np.int64) - ord("0")


def sample_nonzero_parts(batch_size: int, length: int, parts: list[np.ndarray],
                         rng: np.random.Generator) -> np.ndarray:
    """Uniform bits of shape (B, T), conditioned on every part holding at least one 1.

    Each part is a (B, T) or (1, T) bool array selecting positions; rows where some part is all
    zeros are redrawn whole until none remain. Conditioning independent uniform parts on being
    nonzero keeps them independent and uniform over their nonzero values.
    """
    bits = rng.integers(0, 2, (batch_size, length))  # (B, T)
    parts = [np.broadcast_to(p, (batch_size, length)) for p in parts]
    todo = np.arange(batch_size)  # rows still to check
    while todo.size:
        ones = bits[todo] == 1  # (n, T)
        bad = np.zeros(todo.size, dtype=bool)
        for part in parts:
            bad |= ~(ones & part[todo]).any(axis=1)
        todo = todo[bad]
        bits[todo] = rng.integers(0, 2, (todo.size, length))
    return bits


def sample_binary_operands(batch_size: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Inputs of binary_addition / binary_multiplication (docs/benchmark.md#binary_addition),
    (B, T = L).

    L <= 2: ``LE(n, L)`` with n ~ U{0..2^L−2} and no separator. L >= 3: ``LE(a, ℓa) ‖ 2 ‖
    LE(b, ℓb)`` with ℓa ~ U{1..L−2}, ℓb = L−1−ℓa, a ~ U{1..2^ℓa−1} and b ~ U{1..2^ℓb−1}.
    """
    positions = np.arange(length)[None, :]  # (1, T)
    if length <= 2:
        n = rng.integers(0, 2**length - 1, (batch_size, 1))  # (B, 1)
        return (n >> positions) & 1  # (B, T) little-endian bits
    sep = rng.integers(1, length - 1, (batch_size, 1))  # (B, 1)
    bits = sample_nonzero_parts(batch_size, length, [positions < sep, positions > sep], rng)
    return np.where(positions == sep, 2, bits)  # (B, T)


def split_operands(row: bytes) -> list[int]:
    """An ASCII row of little-endian bits separated by ``2`` -> the operand values.

    An empty operand (separator at either end) counts as 0.
    """
    return [int(part[::-1], 2) if part else 0 for part in row.split(b"2")]


def little_endian_terminated(value: int, width: int, terminator: str = "2") -> str:
    """``LEmin(value)`` then the terminator, zero-padded to ``width`` characters."""
    digits = format(value, "b")[::-1]
    pad = width - len(digits) - 1
    assert pad >= 0, "result does not fit the output length"
    return digits + terminator + "0" * pad


class BinaryOperationTask(Task):
    """Input: ``LE(a) <operator> LE(b)`` (:func:`sample_binary_operands`; id 2 is the operator);
    target: the little-endian result, the terminator ``$`` (id 2), then 0s, scored through the
    terminator. Subclasses set ``operator`` and implement ``_compute_targets`` with
    :meth:`_results`."""

    operator: ClassVar[str] = "+"

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1", self.operator), output_symbols=("0", "1", "$"))

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return sample_binary_operands(batch_size, length, rng)  # (B, T)

    def _results(self, inputs: np.ndarray, width: int, combine: Callable[[list[int]], int], *,
                 exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Targets and mask of ``combine(operands)`` for every row, ``width`` wide; a row must
        hold exactly one operator (``exact``) or at most one."""
        results = []
        for r, row in enumerate(rows_as_bytes(inputs)):
            operands = split_operands(row)
            if len(operands) > 2 or (exact and len(operands) != 2):
                raise self._row_error(r, f"must hold {'exactly' if exact else 'at most'} one "
                                         f"{self.operator!r} (id 2), found {len(operands) - 1}")
            results.append(little_endian_terminated(combine(operands), width))
        return mask_through_terminator(strings_to_array(results, width), TERMINATOR)
