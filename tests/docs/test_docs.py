"""Every command, flag, code block and link in the READMEs and the docs pages works (see
``harness.py``)."""

from __future__ import annotations

import argparse
import contextlib
import doctest
import importlib.util
import io
import re
import shlex

import pytest
import torch

from prlstm.cli import build_parser
from tests.docs.harness import ROOT, Item, all_items, flags_of, module_file, script_flags

ITEMS = all_items()


def _by_kind(kind: str) -> list[Item]:
    return [i for i in ITEMS if i.kind == kind]


def _param(items: list[Item]) -> list:
    return [pytest.param(i, id=i.id) for i in items]


def _cli_flags() -> set[str]:
    """Every option string of every ``prlstm`` subcommand (and sub-subcommand)."""
    flags: set[str] = set()
    todo = [build_parser()]
    while todo:
        parser = todo.pop()
        for action in parser._actions:
            flags |= set(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                todo += list(action.choices.values())
    return flags


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _check_partial_prlstm(argv: list[str], where: str) -> None:
    """A command quoted in running text: its subcommands and flags exist; required arguments
    may be missing, and a placeholder (``COMMAND``, ``...``) may stand for the rest. What the
    parser can check beyond that (choices, value types) it checks."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
            return
        except SystemExit as exit_:
            message = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
            if exit_.code == 0:
                message = ""  # --help
    if message and "arguments are required" not in message and not any(
            t.rstrip(":").isupper() or t in ("...", "…") for t in argv):
        pytest.fail(f"{where}: the CLI rejects `prlstm {shlex.join(argv)}`: {message}")
    parser, rest = build_parser(), list(argv)
    while rest and rest[0] in _subparsers(parser):
        parser = _subparsers(parser)[rest.pop(0)]
    if rest and _subparsers(parser) and not rest[0].startswith("-"):
        word = rest[0].rstrip(":")
        assert word.isupper() or word in ("...", "…"), \
            f"{where}: `prlstm {shlex.join(argv)}`: no subcommand {rest[0]!r}"
        return
    known = {o for action in parser._actions for o in action.option_strings}
    unknown = [f for f in flags_of(rest) if f not in known]
    assert not unknown, f"{where}: `prlstm {shlex.join(argv)}` has no option(s) {unknown}"


def _parse_prlstm(argv: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as exit_:
            pytest.fail(f"the CLI rejects `prlstm {shlex.join(argv)}` (exit {exit_.code}): "
                        f"{err.getvalue().strip().splitlines()[-1]}")


def _check_python(tokens: list[str], where: str) -> set[str]:
    """``python X.py ...`` or ``python -m mod ...``: the target exists, its flags too."""
    if tokens[:2] == ["-m", "pytest"] or tokens[:2] == ["-m", "pip"]:
        return set()
    if tokens[0] == "-m":
        path, rest = module_file(tokens[1]), tokens[2:]
        if path is None and importlib.util.find_spec(tokens[1].split(".")[0]) is None:
            pytest.skip(f"{where}: module {tokens[1]} is neither in the repository nor installed")
        if path is None:
            return set()  # another package's module: it exists; its options are its own
    else:
        path, rest = ROOT / tokens[0], tokens[1:]
        assert path.is_file(), f"{where}: script {tokens[0]} not found"
    known = script_flags(path)
    unknown = [f for f in flags_of(rest) if f not in known]
    assert not unknown, f"{where}: {path.relative_to(ROOT)} has no option(s) {unknown}"
    return known


@pytest.mark.parametrize("item", _param(_by_kind("command")))
def test_command(item: Item) -> None:
    tokens = shlex.split(item.text)
    where = f"{item.doc}:{item.line}"
    tokens = [t for t in tokens if not re.fullmatch(r"[A-Z_]+=\S*", t)] or tokens  # VAR=1 cmd
    head, rest = tokens[0], tokens[1:]
    if head == "prlstm" and (item.inline or {"-h", "--help"} & set(rest)):
        _check_partial_prlstm(rest, where)  # running text, or a request for help
    elif head == "prlstm":
        args = _parse_prlstm(rest)
        assert callable(getattr(args, "func", None)), f"{where}: no action for {item.text}"
    elif head in ("python", "python3"):
        _check_python(rest, where)
    elif head == "bash":
        assert (ROOT / rest[0]).is_file(), f"{where}: {rest[0]} not found"
    elif head == "pip":
        tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
        extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                     ["optional-dependencies"])
        for flag, value in zip(rest, rest[1:], strict=False):
            if flag == "-r":
                assert (ROOT / value).is_file(), f"{where}: {value} not found"
            if flag == "-e":
                wanted = re.findall(r"\[([^\]]*)\]", value)
                for extra in (wanted[0].split(",") if wanted else []):
                    assert extra.strip() in extras, f"{where}: no extra {extra!r}"


@pytest.mark.parametrize("item", _param(_by_kind("flags")))
def test_inline_flags(item: Item) -> None:
    """A flag quoted in running text exists in the CLI or in a script that doc mentions."""
    known = _cli_flags()
    for other in ITEMS:
        if other.doc == item.doc and other.kind == "command":
            tokens = shlex.split(other.text)
            if tokens[0].startswith("python") and len(tokens) > 1 and tokens[1] != "-m" \
                    and (ROOT / tokens[1]).is_file():
                known |= script_flags(ROOT / tokens[1])
    # a bare script name in the same doc (e.g. "options of `speed.py`") counts too, and so
    # does a script path the doc names anywhere (e.g. "`tools/check_ranges.py --end newest`")
    for script in (ROOT / item.doc).parent.glob("*.py"):
        known |= script_flags(script)
    text = (ROOT / item.doc).read_text(encoding="utf-8")
    for name in set(re.findall(r"[\w./-]+\.py\b", text)):
        if (ROOT / name).is_file():
            known |= script_flags(ROOT / name)
    # and so do the options of a project module the doc runs with `python -m`
    for module in set(re.findall(r"python3? -m ([\w.]+)", text)):
        if (path := module_file(module)) is not None:
            known |= script_flags(path)
    tokens = shlex.split(item.text.replace("...", ""))
    unknown = [f for f in flags_of(tokens) if f not in known]
    external = sorted({m for m in re.findall(r"python3? -m ([\w.]+)", text)
                       if module_file(m) is None and m not in ("pytest", "pip")})
    if unknown and external:
        pytest.skip(f"{unknown} may be options of {external}, which this test cannot read")
    assert not unknown, f"{item.doc}:{item.line}: unknown option(s) {unknown}"


#: Optional packages (extras) a documented example may need; without them it is skipped.
OPTIONAL_MODULES = {"transformers", "accelerate", "sklearn", "matplotlib", "ray", "xlstm",
                    "triton", "lm_eval"}


@pytest.mark.parametrize("item", _param(_by_kind("python")))
def test_python_block(item: Item, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = compile(item.text, f"{item.doc}:{item.line}", "exec")
    if item.skip:
        return
    monkeypatch.chdir(tmp_path)  # files an example writes (checkpoints, ...) land here
    torch.manual_seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, {"__name__": "__docs__"})
    except ImportError as err:  # prlstm.hf re-raises transformers' ModuleNotFoundError
        missing = err if isinstance(err, ModuleNotFoundError) else err.__cause__
        name = getattr(missing, "name", None) or ""
        if not isinstance(missing, ModuleNotFoundError) or name.split(".")[0] \
                not in OPTIONAL_MODULES:
            raise
        pytest.skip(f"needs the optional package {name!r}")


@pytest.mark.parametrize("item", _param(_by_kind("doctest")))
def test_doctest_block(item: Item) -> None:
    test = doctest.DocTestParser().get_doctest(item.text, {}, item.id, item.doc, item.line)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


@pytest.mark.parametrize("item", _param(_by_kind("link")))
def test_link(item: Item) -> None:
    target = (ROOT / item.doc).parent / item.text.split("#", 1)[0]
    assert target.exists(), f"{item.doc}:{item.line}: link target {item.text} does not exist"


def test_the_harness_finds_the_readmes_content() -> None:
    """Guards against an extractor that silently finds nothing."""
    kinds = {i.kind for i in ITEMS if i.doc == "README.md"}
    assert {"command", "python", "doctest", "flags", "link"} <= kinds
    commands = [i.text for i in ITEMS if i.kind == "command"]
    assert any(c.startswith("prlstm train") for c in commands)
    assert any(c.startswith("python benchmarks/speed.py") for c in commands)
