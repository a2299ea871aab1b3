"""Every citation and link in the code and the docs resolves inside the repository.

A citation is a page path with an optional section anchor, ``docs/benchmark.md#training``
(see ``citations.py``). The tests fail on a citation of a page that does not exist, on a
section that the page does not have, on a link that leaves the repository (a URL, an absolute
path, a ``../`` past the root), and on a numbered-section reference or a path into the
project's private notes, which readers of the repository do not have.
"""

from __future__ import annotations

import pytest

from tests.docs.citations import (
    ROOT,
    Ref,
    anchors,
    outside_references,
    problem,
    references,
    scanned_files,
    slugify,
)

FILES = scanned_files()
REFS = [ref for path in FILES for ref in references(path)]


@pytest.mark.parametrize("ref", [pytest.param(r, id=r.id) for r in REFS])
def test_reference_resolves(ref: Ref) -> None:
    why = problem(ref)
    assert why is None, f"{ref.file}:{ref.line}: {ref.kind} {ref.target!r} {why}"


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in FILES])
def test_no_reference_to_documents_outside_the_repository(path) -> None:
    bad = outside_references(path)
    assert not bad, (f"{path.relative_to(ROOT)} refers to documents outside the repository "
                     f"(cite a page of docs/ instead, e.g. docs/model.md#merge-cell): {bad}")


def test_the_checker_finds_citations_in_code_and_links_in_pages() -> None:
    """Guards against a scanner that silently finds nothing."""
    cited = {r.target for r in REFS if r.kind == "citation" and r.file.startswith("src/")}
    assert "docs/model.md#merge-variants" in cited
    assert any(t.startswith("docs/benchmark.md#") for t in cited)
    links = [r for r in REFS if r.kind == "link" and r.file == "README.md"]
    assert any(r.target == "docs/model.md#merge-cell" for r in links)
    assert any(r.file.startswith("docs/") for r in REFS if r.kind == "link")


def test_the_checker_rejects_what_it_should(tmp_path) -> None:
    good = Ref("README.md", 1, "link", "docs/model.md#merge-cell")
    assert problem(good) is None
    md = ".md"  # spelt apart, so that the scan of this file does not find the bad examples
    for ref in (Ref("README.md", 1, "link", "docs/model" + md + "#no-such-section"),
                Ref("README.md", 1, "link", "docs/no-such-page" + md),
                Ref("README.md", 1, "link", "../outside/spec" + md),
                Ref("README.md", 1, "link", "https://example.org/page"),
                Ref("src/prlstm/layer.py", 1, "citation", "docs/model" + md + "#nonexistent"),
                Ref("src/prlstm/layer.py", 1, "citation", "model-spec" + md)):
        assert problem(ref) is not None, ref


def test_slugs_follow_python_markdown() -> None:
    assert slugify("The block schedule") == "the-block-schedule"
    assert slugify("State similarity (CKA)") == "state-similarity-cka"
    assert slugify("Saving, `auto_map` and `trust_remote_code`") == \
        "saving-auto_map-and-trust_remote_code"
    assert slugify("E4: training time") == "e4-training-time"
    assert "prlstm.PRLSTM" in anchors(ROOT / "docs" / "api.md")
