"""Registry, task attributes, encode/decode, and argument validation."""

from __future__ import annotations

import pytest
import torch

from prlstm import tasks

EXPECTED_NAMES = [
    "even_pairs", "modular_arithmetic", "parity_check", "cycle_navigation",
    "stack_manipulation", "reverse_string", "modular_arithmetic_brackets", "solve_equation",
    "duplicate_string", "missing_duplicate_string", "odds_first", "binary_addition",
    "binary_multiplication", "compute_sqrt", "bucket_sort",
]
LEVEL_OF = {name: "regular" for name in EXPECTED_NAMES[:4]}
LEVEL_OF.update({name: "dcf" for name in EXPECTED_NAMES[4:8]})
LEVEL_OF.update({name: "cs" for name in EXPECTED_NAMES[8:]})


def test_names_in_benchmark_order() -> None:
    assert tasks.names() == EXPECTED_NAMES
    assert tasks.LEVELS == ("regular", "dcf", "cs")


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_task_attributes(name: str) -> None:
    task = tasks.get(name)
    assert isinstance(task, tasks.Task)
    assert task.name == name and task.level == LEVEL_OF[name]
    assert isinstance(task.description, str) and task.description and "\n" not in task.description
    assert len(task.symbols) == task.input_size and len(set(task.symbols)) == task.input_size
    assert len(task.output_symbols) == task.output_size
    assert all(len(s) == 1 for s in task.symbols + task.output_symbols)
    assert name in repr(task) or type(task).__name__ in repr(task)


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown task 'parity'") as info:
        tasks.get("parity")
    for name in EXPECTED_NAMES:
        assert name in str(info.value)


def test_unknown_option_is_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'modulo'.*valid options: modulus, operators"):
        tasks.get("modular_arithmetic", modulo=5)
    with pytest.raises(TypeError, match="'vocab_size'.*valid options: none"):
        tasks.get("parity_check", vocab_size=3)


@pytest.mark.parametrize(("name", "options", "error", "match"), [
    ("modular_arithmetic", {"modulus": 1}, ValueError, "modulus must be >= 2, got 1"),
    ("modular_arithmetic", {"modulus": 11}, ValueError, "modulus must be <= 10, got 11"),
    ("modular_arithmetic", {"modulus": 5.0}, TypeError, "modulus must be an int"),
    ("modular_arithmetic", {"operators": "+/"}, ValueError, "operators"),
    ("modular_arithmetic", {"operators": ""}, ValueError, "operators"),
    ("modular_arithmetic_brackets", {"mult": 1}, TypeError, "mult must be a bool"),
    ("solve_equation", {"modulus": 0}, ValueError, "modulus must be >= 2"),
    ("bucket_sort", {"vocab_size": 1}, ValueError, "vocab_size must be >= 2, got 1"),
    ("odds_first", {"vocab_size": 11}, ValueError, "vocab_size must be <= 10"),
])
def test_bad_option_values(name: str, options: dict[str, object], error: type[Exception],
                           match: str) -> None:
    with pytest.raises(error, match=match):
        tasks.get(name, **options)


def test_options_change_sizes() -> None:
    assert tasks.get("modular_arithmetic", modulus=7).input_size == 11
    assert tasks.get("modular_arithmetic", modulus=7).output_size == 7
    assert tasks.get("modular_arithmetic_brackets", modulus=3).input_size == 9
    assert tasks.get("bucket_sort", vocab_size=3).output_size == 3
    assert tasks.get("modular_arithmetic_brackets").options == {"modulus": 5, "mult": True}


@pytest.mark.parametrize(("name", "text", "ids"), [
    ("modular_arithmetic", "1+2*3", [1, 5, 2, 7, 3]),
    ("modular_arithmetic", "3 − 2 × 4", [3, 6, 2, 7, 4]),
    ("modular_arithmetic_brackets", "((1-2)*(-3))", [8, 8, 1, 6, 2, 9, 7, 8, 6, 3, 9, 9]),
    ("solve_equation", "(x+3)=1", [7, 9, 5, 3, 8, 10, 1]),
    ("stack_manipulation", "0110b--", [0, 1, 1, 0, 4, 2, 2]),
    ("cycle_navigation", "+-0--", [2, 0, 1, 0, 0]),
    ("missing_duplicate_string", "1011?1_", [1, 0, 1, 1, 2, 1, 3]),
    ("binary_addition", "001+01101", [0, 0, 1, 2, 0, 1, 1, 0, 1]),
    ("binary_multiplication", "11*11", [1, 1, 2, 1, 1]),
])
def test_encode_decode(name: str, text: str, ids: list[int]) -> None:
    task = tasks.get(name)
    encoded = task.encode(text)
    assert encoded.dtype == torch.int64 and encoded.tolist() == ids
    assert task.decode(encoded) == "".join(text.split()).replace("−", "-").replace("×", "*")
    assert task.decode(ids) == task.decode(encoded)


def test_encode_then_targets() -> None:
    task = tasks.get("solve_equation")
    targets, _ = task.targets(task.encode("((1-x)-(-2))=0").unsqueeze(0))
    assert targets.tolist() == [[3]]
    adder = tasks.get("binary_addition")
    targets, mask = adder.targets(adder.encode("001+01101").unsqueeze(0))
    assert adder.decode_target(targets[0][mask[0]]) == "01011$"
    assert adder.encode_target("01011$").tolist() == [0, 1, 0, 1, 1, 2]


def test_encode_decode_errors() -> None:
    task = tasks.get("parity_check")
    with pytest.raises(ValueError, match=r"text\[2\] = '2' is not a symbol"):
        task.encode("012")
    with pytest.raises(TypeError, match="text must be a str"):
        task.encode([0, 1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ids\[1\] = 2 is outside the vocabulary 0..1"):
        task.decode([0, 2])
    with pytest.raises(ValueError, match="ids must be 1-D"):
        task.decode(torch.zeros(2, 2, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# Validation of sample_batch / targets / output_length.
@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_sample_batch_validation(name: str) -> None:
    task = tasks.get(name)
    with pytest.raises(ValueError, match="length must be >= 1, got 0"):
        task.sample_batch(2, 0)
    with pytest.raises(ValueError, match="length must be >= 1, got -3"):
        task.sample_batch(2, -3)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        task.sample_batch(0, 5)
    with pytest.raises(TypeError, match="length must be an int, got float"):
        task.sample_batch(2, 5.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_size must be an int, got bool"):
        task.sample_batch(True, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length must be >= 1"):
        task.output_length(0)
    with pytest.raises(ValueError, match="length must be >= 1"):
        task.input_length(0)


def test_seed_and_generator_validation() -> None:
    task = tasks.get("parity_check")
    with pytest.raises(ValueError, match="either seed or generator, not both"):
        task.sample_batch(2, 3, seed=1, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        task.sample_batch(2, 3, generator=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        task.sample_batch(2, 3, seed=-1)
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        task.sample_batch(2, 3, seed="1")  # type: ignore[arg-type]
    assert task.sample_batch(2, 3, seed=2**64 - 1).inputs.shape == (2, 3)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_targets_validation(name: str) -> None:
    task = tasks.get(name)
    t = task.input_length(5)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T\).*got shape \(5,\)"):
        task.targets(torch.zeros(t, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T\)"):
        task.targets(torch.zeros(1, 1, t, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, T\)"):
        task.targets(torch.zeros(2, 0, dtype=torch.int64))
    with pytest.raises(TypeError, match="inputs must be an integer tensor"):
        task.targets(torch.zeros(1, t))
    with pytest.raises(TypeError, match="inputs must be a torch.Tensor"):
        task.targets([[0] * t])  # type: ignore[arg-type]
    good = task.sample_batch(2, 5, seed=0).inputs
    for bad_id in (task.input_size, -1):
        bad = good.clone()
        bad[1, 0] = bad_id
        with pytest.raises(ValueError, match=f"inputs contains token id {bad_id}, outside the "
                                             f"vocabulary 0..{task.input_size - 1}"):
            task.targets(bad)


@pytest.mark.parametrize(("name", "text", "match"), [
    ("modular_arithmetic", "1+2*", "odd length"),
    ("modular_arithmetic", "1+-", "position 2 must hold a digit"),
    ("modular_arithmetic", "123", "position 1 must hold an operator"),
    ("modular_arithmetic_brackets", "(1+2", "incomplete expression"),
    ("modular_arithmetic_brackets", "1+2", "binary operator"),
    ("modular_arithmetic_brackets", "(1+2))", r"unmatched or misplaced '\)'"),
    ("modular_arithmetic_brackets", "(12)", "two operands in a row"),
    ("modular_arithmetic_brackets", "(x)", "cannot appear in an expression"),
    ("modular_arithmetic_brackets", "--1", "unary '-' must be followed by a leaf"),
    ("solve_equation", "x+1", "must end with '=' and a digit"),
    ("solve_equation", "(x+x)=1", "exactly one 'x', found 2"),
    ("solve_equation", "(1+2)=3", "exactly one 'x', found 0"),
    ("solve_equation", "(x=1)=1", "cannot appear"),
    ("solve_equation", "1", "all zeros"),
    ("missing_duplicate_string", "0", r"must be \[1\]"),
    ("missing_duplicate_string", "0101", r"exactly one '\?'"),
    ("missing_duplicate_string", "01?10", "iff T is odd"),
    ("missing_duplicate_string", "0_?10", "no '_'"),
    ("binary_addition", "1+1+1", r"at most one '\+'"),
    ("binary_multiplication", "111", r"exactly one '\*'"),
])
def test_malformed_inputs_name_the_row(name: str, text: str, match: str) -> None:
    task = tasks.get(name)
    x = task.encode(text).unsqueeze(0)
    with pytest.raises(ValueError, match=match):
        task.targets(x)


def test_malformed_row_index_is_reported() -> None:
    task = tasks.get("binary_multiplication")
    x = torch.stack([task.encode("11*1"), task.encode("1111")])
    with pytest.raises(ValueError, match="inputs row 1"):
        task.targets(x)


def test_lenient_but_well_defined_inputs() -> None:
    """Inputs outside the sampler's support that still have a well-defined answer."""
    mod = tasks.get("modular_arithmetic")
    assert mod.targets(mod.encode("3_4").unsqueeze(0))[0].tolist() == [[2]]  # blank op = '+'
    assert mod.targets(mod.encode("_*4").unsqueeze(0))[0].tolist() == [[0]]  # blank digit = 0
    stack = tasks.get("stack_manipulation")
    assert stack.targets(stack.encode("a1b-").unsqueeze(0))[0].tolist() == [[1, 0, 2, 0, 0]]
    adder = tasks.get("binary_addition")
    assert adder.targets(adder.encode("101").unsqueeze(0))[0].tolist() == [[1, 0, 1, 2]]
    assert adder.targets(adder.encode("+11").unsqueeze(0))[0].tolist() == [[1, 1, 2, 0]]
    brackets = tasks.get("modular_arithmetic_brackets", mult=False)
    assert brackets.targets(brackets.encode("(2*3)").unsqueeze(0))[0].tolist() == [[1]]
    sqrt = tasks.get("compute_sqrt")
    assert sqrt.targets(sqrt.encode("000").unsqueeze(0))[0].tolist() == [[0, 0]]
