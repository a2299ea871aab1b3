"""Extract what a Markdown file tells a user to run, so that tests can check it.

The files are the READMEs and every page of the documentation site (``docs/*.md``).
Generic: it knows Markdown (fenced blocks, inline code spans, links), shell syntax and the
command forms of this project, not the content of any particular page:

* ``prlstm ...``: parsed by the real CLI parser (subcommand, flags and their values), not run;
  a command quoted inline in running text may be partial (``prlstm train --resume``): its
  subcommands and flags must exist, its required arguments may be left out; a span that is
  only a program's name (``prlstm``) is a mention, not a command;
* ``python path/script.py ...`` / ``python -m module ...``: the script or module exists and
  every flag is one its argparse parser defines (read statically from its source); a module
  from outside the repository must be importable (else the check is skipped);
* ``bash path.sh``: the file exists; ``pip install -r FILE -e ".[extras]"``: FILE exists and
  each extra is defined in ``pyproject.toml``;
* inline spans that are only flags (``--refinements 2``, ``... --schedule sequential``): each
  flag exists in the CLI or in a script the same file mentions;
* fenced ``python`` blocks are run (in a temporary directory; a block that needs an optional
  package that is not installed is skipped with the package's name); blocks with ``>>>`` lines
  are run as doctests; a block preceded by ``<!-- docs-test: skip -->`` is only compiled, and so
  are the blocks of pages whose examples another test runs (:data:`PYTHON_RUN_ELSEWHERE`);
* relative links and images point at files that exist.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_MARK = "<!-- docs-test: skip -->"
#: Pages whose Python blocks build on each other and are run, in one namespace, by another test.
PYTHON_RUN_ELSEWHERE = {"docs/hf.md": "tests/hf/test_tools.py::test_docs_hf_md_python_blocks_run"}
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Item:
    """One thing a doc tells the reader: ``kind`` is command, flags, python, doctest, link."""

    doc: str
    line: int
    kind: str
    text: str
    skip: bool = False
    inline: bool = False  # quoted in running text rather than in a code block

    @property
    def id(self) -> str:
        short = " ".join(self.text.split())[:60]
        return f"{self.doc}:{self.line}:{self.kind}:{short}"


def doc_files() -> list[Path]:
    """The Markdown files under test: README.md, every README.md below the repository root
    (except tests and hidden folders) and every page of the documentation site, docs/*.md."""
    found = [ROOT / "README.md"]
    for path in sorted(ROOT.rglob("README.md")):
        rel = path.relative_to(ROOT)
        if path != ROOT / "README.md" and not any(p.startswith(".") or p in ("tests", "src")
                                                  for p in rel.parts[:-1]):
            found.append(path)
    found += sorted((ROOT / "docs").glob("*.md"))
    return [p for p in found if p.is_file()]


def _commands(text: str) -> list[str]:
    """Shell command lines in ``text``: comments dropped, continuations joined, ``&&``, ``;``,
    ``|`` split."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        part: list[str] = []
        for tok in [*tokens, "&&"]:
            if tok in ("&&", "||", ";", "|"):
                if part:
                    out.append(shlex.join(part))
                part = []
            else:
                part.append(tok)
    return out


PROGRAMS = ("prlstm", "python", "python3", "bash", "pip")


def is_command(cmd: str) -> bool:
    """Whether a command line is one of the forms this harness checks."""
    first = cmd.split()[0] if cmd.split() else ""
    return first in PROGRAMS


def extract(path: Path) -> list[Item]:
    """Every checkable item of one Markdown file, in order."""
    doc = str(path.relative_to(ROOT))
    items: list[Item] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i, previous = 0, ""
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            lang, start, body = m.group(2), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            text = "\n".join(body)
            skip = previous.strip() == SKIP_MARK or (lang == "python"
                                                     and doc in PYTHON_RUN_ELSEWHERE)
            if any(b.lstrip().startswith(">>>") for b in body):
                items.append(Item(doc, start, "doctest", text, skip))
            elif lang == "python":
                items.append(Item(doc, start, "python", text, skip))
            elif lang in ("bash", "sh", "shell", "console", ""):
                for j, row in enumerate(text.replace("\\\n", " ").splitlines()):
                    items += [Item(doc, start + 1 + j, "command", c, skip)
                              for c in _commands(row) if is_command(c)]
            i += 1
            previous = ""
            continue
        line = lines[i]
        for span in _INLINE.findall(line):
            span = span.strip()
            if span.startswith("--") or span.startswith("... --"):
                items.append(Item(doc, i + 1, "flags", span))
            elif is_command(span) and span not in PROGRAMS:
                items += [Item(doc, i + 1, "command", c, inline=True) for c in _commands(span)]
        for target in _LINK.findall(line):
            if not re.match(r"^[a-z]+:|^#", target):
                items.append(Item(doc, i + 1, "link", target))
        if line.strip():
            previous = line
        i += 1
    return items


def all_items() -> list[Item]:
    return [item for path in doc_files() for item in extract(path)]


# ----------------------------------------------------------------------- argparse, statically
def script_flags(path: Path) -> set[str]:
    """Option strings of every ``add_argument`` call in a Python file (and ``-h/--help``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    flags = {"-h", "--help"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            flags |= {a.value for a in node.args if isinstance(a, ast.Constant)
                      and isinstance(a.value, str) and a.value.startswith("-")}
    return flags


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` under src/ or the repository root."""
    for base in (ROOT / "src", ROOT):
        stem = base.joinpath(*name.split("."))
        for candidate in (stem.with_suffix(".py"), stem / "__main__.py"):
            if candidate.is_file():
                return candidate
    return None


def flags_of(tokens: list[str]) -> list[str]:
    """The option names used in a token list (``--a=1`` -> ``--a``; values and ``-1`` skipped)."""
    return [t.split("=", 1)[0] for t in tokens
            if t.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", t)]
