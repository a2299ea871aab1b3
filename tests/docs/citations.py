"""Find the citations and links in the code and the docs, and the sections they can point at.

A *citation* is how code, tests and pages refer to the documentation: a path from the
repository root to a page, optionally with a section anchor, ``docs/model.md#merge-cell``.
Markdown files may also use ordinary relative links, ``[merge cell](model.md#merge-cell)``.
The anchors of a page are those MkDocs gives it: one per heading (Python-Markdown's ``toc``
slug: the heading's text without markup, lower-cased, punctuation dropped, runs of spaces and
hyphens turned into one hyphen; a repeated slug gets ``_1``, ``_2``, …), explicit
``{#id}`` attributes, and the identifier of every ``::: object`` that mkdocstrings renders.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Files that may cite the docs: code, tests, benchmarks, the READMEs, the pages, the hooks.
SCANNED_GLOBS = ("src/**/*.py", "tests/**/*.py", "benchmarks/**/*.py", "benchmarks/**/*.sh",
                 "benchmarks/**/*.md", "README.md", "results/**/README.md",
                 "results/**/*.sh", "docs/*.md", "docs/hooks/*.py", "tools/*.py", "mkdocs.yml")
#: Bare file names that the package writes (a report's ``report.md``, ``prlstm analyze``'s
#: ``analysis.md``, the LM report's ``table.md``): names of outputs, not citations.
OUTPUT_NAMES = {"report.md", "analysis.md", "table.md"}
SECTION_SIGN = "\u00a7"  # numbered-section references belong to documents outside the repo
OUTSIDE_SPEC = "shared/" + "spec"  # the project's private notes: never cited

_PATH = re.compile(r"(?<![\w/.-])((?:\.\./)*(?:[\w.-]+/)*[\w.-]+\.md)"  # a page's path,
                   r"(#(?:[\w.:-]*[\w-])?)?(?![\w/])")  # an anchor without trailing punctuation
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ATTR_ID = re.compile(r"\{[^}]*#([\w.:-]+)[^}]*\}\s*$")
_DIRECTIVE = re.compile(r"^:::\s+([\w.]+)")
_HTML_ID = re.compile(r"""<[^>]+\b(?:id|name)=["']([^"']+)["']""")


@dataclass(frozen=True)
class Ref:
    """One reference found in a file: ``kind`` is ``citation`` or ``link``."""

    file: str  # relative to the repository root
    line: int
    kind: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.target}"


def scanned_files() -> list[Path]:
    found: set[Path] = set()
    for pattern in SCANNED_GLOBS:
        found |= {p for p in ROOT.glob(pattern) if p.is_file() and "__pycache__" not in p.parts}
    return sorted(found)


def slugify(text: str) -> str:
    """Python-Markdown's default ``toc`` slug of a heading's text."""
    text = re.sub(r"`([^`]*)`", r"\1", text)  # code spans keep their text
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _unfenced(text: str):
    """``(line number, line)`` of every line outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a Markdown page has once built (see the module docstring)."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in _unfenced(path.read_text(encoding="utf-8")):
        if m := _HEADING.match(line):
            text = m.group(2)
            if explicit := _ATTR_ID.search(text):
                found.add(explicit.group(1))
                continue
            slug = slugify(text)
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}_{n}")
        elif m := _DIRECTIVE.match(line):
            found.add(m.group(1))
        found.update(_HTML_ID.findall(line))
    return frozenset(found)


def references(path: Path) -> list[Ref]:
    """The citations (``….md`` paths, with or without an anchor) and, in Markdown files, the
    links of one file."""
    rel = str(path.relative_to(ROOT))
    text = path.read_text(encoding="utf-8")
    refs: list[Ref] = []
    markdown = path.suffix == ".md"
    lines = _unfenced(text) if markdown else enumerate(text.splitlines(), start=1)
    for number, line in lines:
        linked = set()
        if markdown:
            for m in _LINK.finditer(line):
                refs.append(Ref(rel, number, "link", m.group(1)))
                linked.add(m.span(1))
        for m in _PATH.finditer(line):
            if any(a <= m.start() < b for a, b in linked):
                continue
            refs.append(Ref(rel, number, "citation", m.group(0)))
    return refs


def outside_references(path: Path) -> list[tuple[int, str]]:
    """Lines that refer to documents outside the repository by their private names."""
    rel_lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if SECTION_SIGN in line or OUTSIDE_SPEC in line:
            rel_lines.append((number, line.strip()))
    return rel_lines


def problem(ref: Ref) -> str | None:
    """Why a reference does not resolve inside the repository, or None."""
    target = ref.target
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        return "points outside the repository (a URL)"
    if target.startswith("/"):
        return "is an absolute path"
    path_part, _, anchor = target.partition("#")
    source = ROOT / ref.file
    if not path_part:  # "#anchor" within the same page
        page = source
    else:
        candidates = [source.parent / path_part]
        if ref.kind == "citation":  # code cites from the repository root
            candidates = [ROOT / path_part, source.parent / path_part]
            if "/" not in path_part:
                if path_part in OUTPUT_NAMES:
                    return None
                candidates.append(ROOT / "docs" / path_part)
        resolved = [c.resolve() for c in candidates]
        inside = [c for c in resolved if c.is_relative_to(ROOT)]
        if not inside:
            return "leaves the repository"
        existing = [c for c in inside if c.exists()]
        if not existing:
            return f"names {path_part}, which does not exist in the repository"
        page = existing[0]
    if anchor:
        if page.suffix != ".md" or not page.is_file():
            return f"has an anchor #{anchor} on something that is not a page"
        if anchor not in anchors(page):
            return (f"cites section #{anchor}, which {page.relative_to(ROOT)} does not have "
                    f"(its sections: {', '.join(sorted(anchors(page))[:12])}, …)")
    return None
