"""MkDocs hook: repository files that the pages link to become part of the site.

The pages link to files outside ``docs/`` (results reports, their plots, the benchmarks'
README) with paths relative to the page, so that the links also work when the Markdown is read
in the repository itself (``../results/…`` from a page). MkDocs only knows files under
``docs/``; this hook adds every linked repository file to the site under ``repo/`` (a Markdown
file becomes a page, and its own relative links are followed the same way) and rewrites the
links to match. So the built site holds everything it links to, and ``mkdocs build --strict``
checks those links and their anchors like any other. A link to a folder, or to a path outside
the repository, is left as it is and fails the strict build.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

PREFIX = "repo"  # site folder for files from outside docs/
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _root(config) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _targets(markdown: str):
    """``(line index, match)`` of every Markdown link outside fenced code."""
    fenced = False
    for i, line in enumerate(markdown.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            for m in _LINK.finditer(line):
                yield i, m


def _resolve(source: Path, target: str) -> tuple[Path, str] | None:
    """The file a relative link of ``source`` points at, and its anchor part."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
        return None
    path, _, anchor = target.partition("#")
    if not path:
        return None
    return (source.parent / path).resolve(), ("#" + anchor if anchor else "")


def _site_uri(real: Path, docs: Path, root: Path) -> str | None:
    """Where a repository file lives in the site (``None``: not a repository file)."""
    if real.is_relative_to(docs):
        return real.relative_to(docs).as_posix()
    if real.is_relative_to(root) and real.is_file():
        return f"{PREFIX}/{real.relative_to(root).as_posix()}"
    return None


def on_files(files: Files, config) -> Files:
    """Add the repository files that pages link to, following links of added pages too."""
    root, docs = _root(config), Path(config["docs_dir"]).resolve()
    todo = [Path(f.abs_src_path) for f in files.documentation_pages()]
    seen = {p.resolve() for p in todo}
    while todo:
        source = todo.pop()
        for _, m in _targets(source.read_text(encoding="utf-8")):
            found = _resolve(source, m.group(2))
            if found is None or found[0] in seen:
                continue
            real = found[0]
            uri = _site_uri(real, docs, root)
            if uri is None or real.is_relative_to(docs):
                continue
            seen.add(real)
            files.append(File.generated(config, uri, abs_src_path=str(real)))
            if real.suffix == ".md":
                todo.append(real)
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Rewrite relative links to where their targets live in the site."""
    root, docs = _root(config), Path(config["docs_dir"]).resolve()
    source = Path(page.file.abs_src_path)
    here = posixpath.dirname(page.file.src_uri)
    lines = markdown.splitlines()
    for i, m in reversed(list(_targets(markdown))):
        found = _resolve(source, m.group(2))
        if found is None:
            continue
        uri = _site_uri(found[0], docs, root)
        if uri is None:
            continue
        new = posixpath.relpath(uri, here or ".") + found[1]
        line = lines[i]
        lines[i] = line[:m.start(2)] + new + line[m.end(2):]
    return "\n".join(lines)
