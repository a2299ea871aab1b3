"""Fuzzed command lines: every ``prlstm`` subcommand with random bad values.

Bad syntax (a non-number for a number, a value outside ``choices``, an unknown flag, a
missing required argument) must give argparse's usage + ``error:`` and exit code 2; values
that parse but make no sense (zero steps, an unknown task, a device that does not exist)
must give one ``prlstm <cmd>: error: ...`` line and exit code 2 (or, inside a sweep, a run
reported as FAILED and exit code 1) — never a traceback, and never any training. All runs
are in-process through :func:`prlstm.cli.main`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prlstm.cli import build_parser, main
from tests.properties.strategies import examples


def _subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """``(argv prefix, parser)`` for every subcommand and sub-subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subparsers(sub, (*prefix, name))


COMMANDS = list(_subparsers(build_parser()))
# Values that make a required positional or option valid enough to reach the flag under test.
REQUIRED = {"--task": "parity_check", "--model": "lstm", "--length": "3",
            "run_dir": "no-such-run", "results_dir": "no-such-results", "name": "parity_check",
            "runs_dir": "no-such-runs"}


def _flag(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)  # the long form


def _value(action: argparse.Action, key: str) -> str:
    """A valid-enough value for a required argument: a known one, a choice, or a path that
    does not exist (subcommands added later need no entry in REQUIRED)."""
    if key in REQUIRED:
        return REQUIRED[key]
    if action.choices:
        return str(next(iter(action.choices)))
    return f"no-such-{key.lstrip('-')}"


def _required_args(parser: argparse.ArgumentParser) -> list[str]:
    argv: list[str] = []
    for action in parser._actions:
        if action.option_strings and action.required:
            argv += [_flag(action), _value(action, _flag(action))]
        elif not action.option_strings and action.nargs not in ("?", "*", argparse.PARSER) \
                and not isinstance(action, argparse._SubParsersAction):
            argv.append(_value(action, action.dest))
    return argv


def _is_number(text: str, kind: type) -> bool:
    try:
        kind(text)
        return True
    except ValueError:
        return False


def _bad_value(action: argparse.Action) -> st.SearchStrategy[str]:
    if action.choices:
        return st.text(max_size=12).filter(lambda s: s not in action.choices
                                           and not s.startswith("-"))
    kind = float if action.type is float else int
    return st.one_of(st.text(max_size=12), st.sampled_from(["1.5", "1e3", "0x10", "", " ", "NaN"])
                     ).filter(lambda s: not _is_number(s, kind) and not s.startswith("-"))


def _numeric(action: argparse.Action) -> bool:
    return action.type in (int, float) or getattr(action.type, "__name__", "").startswith("int")


TYPED = [(prefix, parser, action) for prefix, parser in COMMANDS for action in parser._actions
         if action.option_strings and (_numeric(action) or action.choices)]


def _run(argv: list[str]) -> tuple[int | None, bool, str]:
    """``(exit code, raised SystemExit?, stderr)`` of ``prlstm argv`` run in-process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return main(argv), False, err.getvalue()
        except SystemExit as exit_:
            return exit_.code, True, err.getvalue()  # type: ignore[return-value]


def _expect_usage_error(argv: list[str]) -> str:
    code, exited, err = _run(argv)
    assert exited and code == 2, (argv, code, err)
    assert "usage:" in err and "error:" in err and "Traceback" not in err, (argv, err)
    return err


@pytest.mark.parametrize("prefix,parser,action", [
    pytest.param(p, s, a, id=f"{' '.join(p)} {_flag(a)}") for p, s, a in TYPED])
@examples(8)
@given(data=st.data())
def test_bad_typed_values_are_argparse_errors(prefix, parser, action, data) -> None:
    value = data.draw(_bad_value(action), label="value")
    argv = [*prefix, *_required_args(parser), _flag(action), value]
    err = _expect_usage_error(argv)
    assert "invalid" in err or "expected" in err, err


@pytest.mark.parametrize("prefix,parser", [pytest.param(p, s, id=" ".join(p))
                                           for p, s in COMMANDS])
@examples(5)
@given(flag=st.from_regex(r"--[a-z][a-z0-9-]{0,12}", fullmatch=True))
def test_unknown_flags_are_argparse_errors(prefix, parser, flag) -> None:
    known = {s for a in parser._actions for s in a.option_strings}
    if any(k.startswith(flag) for k in known):
        return  # argparse accepts unambiguous prefixes of real flags
    _expect_usage_error([*prefix, *_required_args(parser), flag, "1"])


@pytest.mark.parametrize("prefix,parser", [pytest.param(p, s, id=" ".join(p))
                                           for p, s in COMMANDS if _required_args(s)])
def test_missing_required_arguments_are_argparse_errors(prefix, parser) -> None:
    if prefix == ("eval",):  # RUN_DIR or --run-dir: checked by the command, not argparse
        code, _, err = _run(["eval"])
        assert code == 2 and "give the run directory" in err
        return
    _expect_usage_error(list(prefix))


# ------------------------------------------------------------------ values that parse but are bad
NONPOSITIVE = st.sampled_from(["0", "-1", "-7"])
BAD_RUN_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--steps": NONPOSITIVE, "--batch-size": NONPOSITIVE, "--train-length": NONPOSITIVE,
    "--eval-length": NONPOSITIVE, "--eval-per-length": st.sampled_from(["0", "-8", "3"]),
    "--eval-batch-size": NONPOSITIVE, "--log-every": NONPOSITIVE, "--ckpt-every": NONPOSITIVE,
    "--eval-seed": st.sampled_from(["-1"]), "--seed": st.sampled_from(["-1", "-100"]),
    "--lr": st.sampled_from(["0", "-1e-3", "nan"]),
    "--max-grad-norm": st.sampled_from(["0", "-1", "nan"]),
    "--device": st.sampled_from(["cuda", "cuda:7", "tpu", "gpu", "cpu:x", "", "meta", "mps"]),
    "--hidden-size": NONPOSITIVE, "--refinements": st.sampled_from(["-1", "-3"]),
    "--schedule": st.text(max_size=8).filter(lambda s: s not in ("tree", "sequential")),
    "--hparam": st.sampled_from(["no_such_hparam=1", "hidden_size=0", "hidden_size=\"x\""]),
    "--task-option": st.sampled_from(["no_such_option=1", "modulus=0"]),
}
BAD_NAMES: dict[str, st.SearchStrategy[str]] = {
    "--task": st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    "--model": st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
}


def _no_training(out: Path) -> None:
    assert not any(out.rglob("checkpoint.json")), "a run was trained from a bad command line"


def _assert_clean_error(code: int, err: str, allowed: tuple[int, ...] = (2,)) -> None:
    assert code in allowed, err
    assert "Traceback" not in err, err
    assert "error:" in err or "FAILED" in err, err


@pytest.mark.parametrize("command", ["train", "sweep", "run"])
@examples(12)
@given(data=st.data())
def test_bad_run_settings_fail_cleanly(command, data, tmp_path_factory) -> None:
    out = tmp_path_factory.mktemp("out")
    flags = {**BAD_RUN_VALUES, **(BAD_NAMES if command == "train" else {})}
    flag = data.draw(st.sampled_from(sorted(flags)), label="flag")
    value = data.draw(flags[flag], label="value")
    task, model = ("--task", "--model") if command == "train" else ("--tasks", "--models")
    base = {task: "parity_check", model: "lstm"}
    if flag in base:
        base[flag] = value
    argv = [command, "--preset", "smoke", "--out", str(out), "--quiet",
            *[x for k, v in base.items() for x in (k, v)]]
    if command != "train":
        argv += ["--workers", "1", "--no-plots"] if command == "run" else ["--workers", "1"]
    if flag not in base:
        argv += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
    code, _, err = _run(argv)
    _assert_clean_error(code, err, (2,) if command == "train" else (1, 2))
    _no_training(out)


@examples(15)
@given(flag=st.sampled_from(["--hidden", "--batch", "--length", "--repeats", "--refinements"]),
       value=st.integers(-5, 0))
def test_demo_rejects_nonpositive_sizes(flag, value) -> None:
    if flag == "--refinements" and value == 0:
        value = -1  # R = 0 is a valid layer
    _expect_usage_error(["demo", f"{flag}={value}"])


@examples(15)
@given(length=st.integers(-5, 0) | st.just(None), count=st.integers(-5, 0) | st.just(None),
       name=st.from_regex(r"[a-z_]{1,10}", fullmatch=True) | st.just("parity_check"),
       option=st.sampled_from([None, "modulus=0", "nope=1", "mult=maybe", "=1", "x"]))
def test_tasks_show_bad_values_fail_cleanly(length, count, name, option) -> None:
    from prlstm import tasks

    if name != "parity_check" and name in tasks.names():
        name += "_x"
    argv = ["tasks", "show", name, f"--length={3 if length is None else length}"]
    argv += [] if count is None else [f"--count={count}"]
    argv += [] if option is None else ["--option", option]
    if length is None and count is None and name == "parity_check" and option is None:
        return  # a valid command
    code, _, err = _run(argv)
    _assert_clean_error(code, err)


def test_eval_and_report_of_missing_directories_fail_cleanly(tmp_path: Path) -> None:
    for argv in (["eval", str(tmp_path / "none")], ["eval", "--run-dir", str(tmp_path)],
                 ["report", str(tmp_path / "none"), "--no-plots"]):
        code, _, err = _run(argv)
        _assert_clean_error(code, err)
