"""Every command, flag, code block and link in the READMEs works (see ``harness.py``)."""

from __future__ import annotations

import argparse
import contextlib
import doctest
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
        assert path is not None, f"{where}: module {tokens[1]} not found"
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
    if head == "prlstm":
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
    # a bare script name in the same doc (e.g. "options of `speed.py`") counts too
    for script in (ROOT / item.doc).parent.glob("*.py"):
        known |= script_flags(script)
    tokens = shlex.split(item.text.replace("...", ""))
    unknown = [f for f in flags_of(tokens) if f not in known]
    assert not unknown, f"{item.doc}:{item.line}: unknown option(s) {unknown}"


@pytest.mark.parametrize("item", _param(_by_kind("python")))
def test_python_block(item: Item) -> None:
    code = compile(item.text, f"{item.doc}:{item.line}", "exec")
    if item.skip:
        return
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, {"__name__": "__docs__"})


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
