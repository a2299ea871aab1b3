"""Shared machinery of the formal-language tasks: :class:`Task`, :class:`Batch`, validation, RNG.

A task maps a batch of token-id sequences ``inputs`` of shape (B, T) to ``targets`` of shape
(B, T_out) and an accuracy ``mask`` of the same shape (docs/benchmark.md#the-task-interface).
Every task's target is a deterministic function of its input, exposed as :meth:`Task.targets`;
:meth:`Task.sample_batch` draws inputs and then calls :meth:`Task.targets`, so the two can
never disagree.

Subclasses implement two hooks, both on numpy arrays:

* ``_sample_inputs(batch_size, length, rng)`` returning (B, T) int64 token ids, where T is
  already the *actual* input length (:meth:`Task.input_length`) and ``rng`` a numpy Generator;
* ``_compute_targets(inputs)`` returning ``(targets, mask)`` for validated (B, T) int64 ids.

The public API takes and returns torch tensors and a ``torch.Generator``. Internally each call
seeds one numpy Generator from the torch one (:func:`numpy_rng`): numpy's single-threaded
kernels keep the (small, memory-bound) task work fast and predictable, whereas torch's
intra-op thread pool costs milliseconds per op when the cores are shared with other work.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

__all__ = [
    "LEVELS",
    "Batch",
    "Task",
    "check_int",
    "make_generator",
    "numpy_rng",
    "single_label",
    "full_mask",
    "mask_through_terminator",
]

LEVELS: tuple[str, ...] = ("regular", "dcf", "cs")
"""Chomsky-hierarchy levels, in benchmark order: regular, deterministic context-free, context-
sensitive."""

_SEED_LIMIT = 2**64
# Unicode spellings accepted by :meth:`Task.encode` for the ASCII symbols the tasks use.
_ALIASES = {"×": "*", "−": "-", "–": "-"}


class Batch(NamedTuple):
    """One batch of task examples; tensors live on the CPU unless moved with :meth:`to`."""

    inputs: torch.Tensor  # (B, T) int64 token ids in [0, input_size)
    targets: torch.Tensor  # (B, T_out) int64 class ids in [0, output_size)
    mask: torch.Tensor  # (B, T_out) bool, True where accuracy is scored

    def to(self, device: torch.device | str) -> Batch:
        """Return a copy of the batch with every tensor moved to ``device``."""
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise an error naming ``name`` and the valid range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def make_generator(seed: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Generator:
    """The CPU generator for one sampling call.

    ``seed`` builds a fresh generator seeded with it, ``generator`` is used as given (and
    advanced), and neither gives a fresh generator with a nondeterministic seed.
    """
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both "
                         f"(got seed={seed!r} and a generator)")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError("generator must be a torch.Generator, "
                            f"got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator, got one on {generator.device}")
        return generator
    fresh = torch.Generator()
    if seed is None:
        fresh.seed()
    else:
        fresh.manual_seed(check_int("seed", seed, minimum=0, maximum=_SEED_LIMIT - 1))
    return fresh


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy Generator seeded by four draws from ``generator`` (which is advanced)."""
    words = torch.randint(0, 2**62, (4,), generator=generator).tolist()
    return np.random.default_rng(np.random.SeedSequence(words))


def single_label(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B,) labels -> ((B, 1) int64 targets, (B, 1) all-True mask) for single-output tasks."""
    targets = np.asarray(labels).astype(np.int64).reshape(-1, 1)  # (B, 1)
    return targets, np.ones(targets.shape, dtype=bool)


def full_mask(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, T_out) targets -> (targets as int64, all-True mask)."""
    targets = np.asarray(targets).astype(np.int64)
    return targets, np.ones(targets.shape, dtype=bool)


def mask_through_terminator(targets: np.ndarray,
                            terminator: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mask positions up to and including the first ``terminator`` of each row
    (docs/benchmark.md#loss-and-accuracy).

    Every row must contain the terminator (the tasks that use this always emit one).
    """
    targets = np.asarray(targets).astype(np.int64)  # (B, T_out)
    first = (targets == terminator).argmax(axis=1)[:, None]  # (B, 1)
    return targets, np.arange(targets.shape[1])[None, :] <= first  # (B, T_out)


class Task:
    """A formal-language task of docs/benchmark.md#the-15-tasks.

    Attributes:
        name: registry name, e.g. ``"parity_check"``.
        level: one of :data:`LEVELS`.
        description: one-line summary.
        single_output: True when ``output_length`` is 1 for every length (a classifier task).
        output_length_text: the output length as a formula of T, for listings (``"T+1"``).
        symbols: one printable character per input token id (``len == input_size``).
        output_symbols: one printable character per output class (``len == output_size``).
    """

    name: ClassVar[str] = ""
    level: ClassVar[str] = ""
    description: ClassVar[str] = ""
    single_output: ClassVar[bool] = False
    output_length_text: ClassVar[str] = "1"

    def __init__(self, symbols: Sequence[str], output_symbols: Sequence[str]) -> None:
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.output_symbols: tuple[str, ...] = tuple(output_symbols)
        self._symbol_ids = {s: i for i, s in enumerate(self.symbols)}
        self._output_ids = {s: i for i, s in enumerate(self.output_symbols)}

    # ----------------------------------------------------------------------------------------
    # Sizes and lengths
    @property
    def input_size(self) -> int:
        """V: the number of input token ids."""
        return len(self.symbols)

    @property
    def output_size(self) -> int:
        """C: the number of output classes."""
        return len(self.output_symbols)

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options of this instance (empty for tasks without parameters)."""
        return {}

    def input_length(self, length: int) -> int:
        """T, the actual input length produced by ``sample_batch(·, length)`` (L >= 1)."""
        return check_int("length", length, minimum=1)

    def output_length(self, length: int) -> int:
        """T_out for an actual input length T = ``length`` (>= 1)."""
        check_int("length", length, minimum=1)
        return 1

    # ----------------------------------------------------------------------------------------
    # Sampling and targets
    def sample_batch(self, batch_size: int, length: int, *, seed: int | None = None,
                     generator: torch.Generator | None = None) -> Batch:
        """Draw ``batch_size`` examples of requested length ``length`` (L >= 1).

        Pass ``seed`` for a reproducible batch, or ``generator`` to draw from (and advance) a
        caller's CPU generator; neither draws with a fresh nondeterministic seed. The same
        (task options, seed, batch_size, length) always gives the same batch.

        Returns a :class:`Batch` with inputs (B, T), targets (B, T_out) and mask (B, T_out),
        where ``T = input_length(length)`` and ``T_out = output_length(T)``.
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        length = check_int("length", length, minimum=1)
        rng = numpy_rng(make_generator(seed, generator))
        t = self.input_length(length)
        x = self._sample_inputs(batch_size, t, rng)  # (B, T)
        assert x.shape == (batch_size, t)
        inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))  # (B, T)
        targets, mask = self.targets(inputs)  # (B, T_out), (B, T_out)
        return Batch(inputs, targets, mask)

    def targets(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The deterministic answer for given input ids.

        Args:
            inputs: (B, T) integer tensor of token ids in ``[0, input_size)``.

        Returns:
            ``(targets, mask)``: (B, T_out) int64 class ids and (B, T_out) bool accuracy mask,
            on the device of ``inputs``.

        Raises:
            TypeError: ``inputs`` is not an integer tensor.
            ValueError: wrong shape, ids outside the vocabulary, or (for structured tasks) an
                input the task's grammar does not define a target for.
        """
        x = self._check_inputs(inputs)  # (B, T) int64 numpy copy
        targets, mask = self._compute_targets(x)
        expected = (x.shape[0], self.output_length(x.shape[1]))
        assert targets.shape == expected and mask.shape == expected
        targets_t = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))
        mask_t = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))
        return targets_t.to(inputs.device), mask_t.to(inputs.device)

    # ----------------------------------------------------------------------------------------
    # Human-readable symbols
    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Input token ids (1-D) -> a string with one symbol per token, e.g. ``"1+2*3"``."""
        return _decode("ids", ids, self.symbols)

    def decode_target(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Output class ids (1-D) -> a string with one symbol per class id."""
        return _decode("ids", ids, self.output_symbols)

    def encode(self, text: str) -> torch.Tensor:
        """A string of input symbols -> 1-D int64 token ids (whitespace is ignored).

        ``"×"`` and ``"−"`` are accepted for ``"*"`` and ``"-"``.
        """
        return _encode(text, self._symbol_ids)

    def encode_target(self, text: str) -> torch.Tensor:
        """A string of output symbols -> 1-D int64 class ids (whitespace is ignored)."""
        return _encode(text, self._output_ids)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"

    # ----------------------------------------------------------------------------------------
    # Hooks and helpers for subclasses
    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        """Draw (B, T) integer inputs of actual length T = ``length``."""
        raise NotImplementedError

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, T_out) int64 targets and bool mask for validated (B, T) int64 inputs (which the
        hook may modify: it gets a private copy)."""
        raise NotImplementedError

    def _check_input_length(self, length: int) -> None:
        """Raise ValueError if T = ``length`` can never be an input length of this task."""

    def _check_inputs(self, inputs: Any) -> np.ndarray:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError("inputs must be a torch.Tensor of token ids with shape (B, T), "
                            f"got {type(inputs).__name__}")
        if inputs.dtype == torch.bool or inputs.is_floating_point() or inputs.is_complex():
            raise TypeError(f"inputs must be an integer tensor of token ids, got dtype "
                            f"{inputs.dtype}")
        if inputs.dim() != 2 or inputs.shape[0] < 1 or inputs.shape[1] < 1:
            raise ValueError("inputs must have shape (B, T) with B >= 1 and T >= 1, got shape "
                             f"{tuple(inputs.shape)}")
        self._check_input_length(inputs.shape[1])
        x = inputs.detach().to("cpu", torch.int64).numpy().copy()  # (B, T)
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= self.input_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"inputs contains token id {bad}, outside the vocabulary "
                             f"0..{self.input_size - 1} of task {self.name!r}")
        return x

    @staticmethod
    def _row_error(row: int, message: str) -> ValueError:
        return ValueError(f"inputs row {row}: {message}")


def _decode(arg: str, ids: torch.Tensor | Sequence[int], symbols: tuple[str, ...]) -> str:
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"{arg} must be 1-D, got shape {tuple(ids.shape)}")
        if ids.is_floating_point() or ids.dtype == torch.bool:
            raise TypeError(f"{arg} must hold integer ids, got dtype {ids.dtype}")
        values = ids.tolist()
    else:
        values = list(ids)
    out = []
    for pos, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{arg}[{pos}] must be an int, got {type(value).__name__}")
        if not 0 <= value < len(symbols):
            raise ValueError(f"{arg}[{pos}] = {value} is outside the vocabulary "
                             f"0..{len(symbols) - 1}")
        out.append(symbols[value])
    return "".join(out)


def _encode(text: str, table: dict[str, int]) -> torch.Tensor:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ids = []
    for pos, char in enumerate(text):
        if char.isspace():
            continue
        key = char if char in table else _ALIASES.get(char, char)
        if key not in table:
            raise ValueError(f"text[{pos}] = {char!r} is not a symbol of this task; valid "
                             f"symbols: {' '.join(table)}")
        ids.append(table[key])
    return torch.tensor(ids, dtype=torch.int64)  # (T,)
