"""``prlstm tasks`` sub-command, exercised through ``register`` on a local argparse parser."""

from __future__ import annotations

import argparse

import pytest

from prlstm import tasks
from prlstm.tasks import cli


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="prlstm")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("argv", [["tasks"], ["tasks", "list"]])
def test_list(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 1 + 15
    assert lines[0].split()[:6] == ["task", "level", "V", "C", "T", "T_out"]
    for line, name in zip(lines[1:], tasks.names(), strict=True):
        task = tasks.get(name)
        fields = line.split()
        assert fields[:4] == [name, task.level, str(task.input_size), str(task.output_size)]
        assert task.output_length_text in fields
    assert "0 1 2 3 4 + - * ( ) x" in out  # vocabulary of modular_arithmetic_brackets


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tasks", "show", "binary_addition", "--length", "9", "--seed", "3",
                "--count", "4"]) == 0
    out = capsys.readouterr().out
    task = tasks.get("binary_addition")
    batch = task.sample_batch(4, 9, seed=3)
    for i in range(4):
        assert f"[{i}] input  {task.decode(batch.inputs[i])}" in out
        shown = task.decode_target(batch.targets[i][batch.mask[i]])
        assert f"target {shown}" in out
    assert "T_out = 10" in out


def test_show_defaults_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tasks", "show", "modular_arithmetic_brackets", "-L", "7", "-o", "mult=false",
                "-o", "modulus=7"]) == 0
    out = capsys.readouterr().out
    assert "'mult': False" in out and "'modulus': 7" in out
    assert out.count("] input ") == 3  # --count defaults to 3
    assert run(["tasks", "show", "modular_arithmetic", "-L", "6"]) == 0
    assert "L = 6, T = 5" in capsys.readouterr().out


def test_show_errors() -> None:
    with pytest.raises(ValueError, match="unknown task 'nope'; valid names: even_pairs"):
        run(["tasks", "show", "nope", "--length", "3"])
    with pytest.raises(ValueError, match="length must be >= 1, got 0"):
        run(["tasks", "show", "parity_check", "--length", "0"])
    with pytest.raises(ValueError, match="--count must be >= 1"):
        run(["tasks", "show", "parity_check", "--length", "3", "--count", "0"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        run(["tasks", "show", "parity_check", "--length", "3", "--option", "mult"])
    with pytest.raises(TypeError, match="unknown option"):
        run(["tasks", "show", "parity_check", "--length", "3", "--option", "mult=true"])
    with pytest.raises(SystemExit):
        run(["tasks", "show", "parity_check"])  # --length is required
