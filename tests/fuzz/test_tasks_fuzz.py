"""Fuzzed inputs at the task API: encode / decode / targets on random strings and id arrays.

The only errors allowed are the documented ones (TypeError for wrong types, ValueError for
unknown symbols, out-of-vocabulary ids, wrong shapes, or inputs outside a task's grammar);
round trips hold wherever the input is valid.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from prlstm import tasks
from tests.properties.strategies import examples

NAMES = tasks.names()
ALIASES = {"×": "*", "−": "-"}


def _text(task) -> st.SearchStrategy[str]:
    """Strings mostly of the task's symbols, with whitespace, aliases and stray characters."""
    pieces = st.sampled_from([*task.symbols, *task.symbols, " ", "\t", "\n", *ALIASES])
    return st.one_of(st.lists(pieces, max_size=40).map("".join), st.text(max_size=20))


@pytest.mark.parametrize("name", NAMES)
@examples(30)
@given(data=st.data())
def test_encode_decode_random_strings(name: str, data) -> None:
    task = tasks.get(name)
    text = data.draw(_text(task), label="text")
    canonical = "".join(ALIASES.get(c, c) for c in text if not c.isspace())
    valid = all(c in task.symbols for c in canonical)
    if not valid:
        with pytest.raises(ValueError, match=r"text\[\d+\] = .* is not a symbol of this task"):
            task.encode(text)
        return
    ids = task.encode(text)
    assert ids.dtype == torch.int64 and ids.dim() == 1 and len(ids) == len(canonical)
    assert task.decode(ids) == canonical
    assert torch.equal(task.encode(task.decode(ids)), ids)


@pytest.mark.parametrize("name", NAMES)
@examples(30)
@given(data=st.data())
def test_decode_random_ids(name: str, data) -> None:
    task = tasks.get(name)
    V, C = task.input_size, task.output_size
    ids = data.draw(st.lists(st.integers(-3, V + 3), max_size=30), label="ids")
    as_tensor = data.draw(st.booleans(), label="as tensor")
    arg = torch.tensor(ids, dtype=torch.int64) if as_tensor else ids
    if all(0 <= i < V for i in ids):
        text = task.decode(arg)
        assert len(text) == len(ids) and task.encode(text).tolist() == ids
    else:
        with pytest.raises(ValueError, match="outside the vocabulary"):
            task.decode(arg)
    targets = [i for i in ids if 0 <= i < C]
    assert task.encode_target(task.decode_target(targets)).tolist() == targets
    with pytest.raises(TypeError):
        task.decode([0, 1.5])
    with pytest.raises((TypeError, ValueError)):
        task.decode(torch.zeros(2, 2, dtype=torch.int64))


@pytest.mark.parametrize("name", NAMES)
@examples(30)
@given(B=st.integers(1, 4), T=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_targets_of_random_id_arrays(name: str, B: int, T: int, seed: int) -> None:
    """Any in-vocabulary array gets targets of the documented shape, or a ValueError."""
    task = tasks.get(name)
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, task.input_size, (B, T)))
    try:
        targets, mask = task.targets(x)
    except ValueError as err:  # not in the task's grammar (structured tasks), or a bad T
        assert str(err), "empty error message"
        return
    assert targets.shape == mask.shape == (B, task.output_length(T))
    assert targets.dtype == torch.int64 and mask.dtype == torch.bool
    assert int(targets.min()) >= 0 and int(targets.max()) < task.output_size
    assert torch.equal(task.targets(x)[0], targets)  # deterministic


@pytest.mark.parametrize("name", NAMES)
@examples(15)
@given(B=st.integers(1, 4), L=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_sampled_batches_round_trip(name: str, B: int, L: int, seed: int) -> None:
    """targets(sample.inputs) = sample.targets, and inputs survive decode -> encode."""
    task = tasks.get(name)
    batch = task.sample_batch(B, L, seed=seed)
    targets, mask = task.targets(batch.inputs)
    assert torch.equal(targets, batch.targets) and torch.equal(mask, batch.mask)
    for row in batch.inputs:
        assert torch.equal(task.encode(task.decode(row)), row)


@pytest.mark.parametrize("name", NAMES)
def test_targets_rejects_bad_arrays_with_documented_errors(name: str) -> None:
    task = tasks.get(name)
    V = task.input_size
    bad: list[tuple[object, type[Exception]]] = [
        ([[0, 1]], TypeError), (torch.zeros(2, 3), TypeError),
        (torch.zeros(2, 3, dtype=torch.bool), TypeError),
        (torch.zeros(3, dtype=torch.int64), ValueError),
        (torch.zeros(0, 3, dtype=torch.int64), ValueError),
        (torch.zeros(2, 0, dtype=torch.int64), ValueError),
        (torch.full((2, 3), V, dtype=torch.int64), ValueError),
        (torch.full((2, 3), -1, dtype=torch.int64), ValueError),
    ]
    for value, error in bad:
        with pytest.raises(error):
            task.targets(value)  # type: ignore[arg-type]
