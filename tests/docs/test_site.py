"""The documentation site: every page is in the navigation, the command-line page covers
every subcommand, and ``mkdocs build --strict`` passes (when MkDocs is installed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time

import pytest

from tests.docs.harness import ROOT
from tests.helpers import load_script

DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"


def _hook(name: str):
    """A module of docs/hooks/, loaded by path (it is not a package)."""
    path = DOCS / "hooks" / f"{name}.py"
    return load_script(path, f"docs_hook_{name}")


def test_every_page_is_in_the_navigation() -> None:
    nav = set(re.findall(r":\s*([\w-]+\.md)\s*$", CONFIG.read_text(), flags=re.MULTILINE))
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages == nav, (f"pages not in mkdocs.yml's nav: {sorted(pages - nav)}; nav entries "
                          f"without a page: {sorted(nav - pages)}")


def test_the_cli_page_covers_every_subcommand() -> None:
    cli_help = _hook("cli_help")
    assert cli_help.MARKER in (DOCS / "cli.md").read_text()
    text = cli_help.cli_markdown()
    names = [name for name, _ in cli_help.commands()]
    for sub in ("train", "eval", "sweep", "report", "reproduce", "run", "models", "analyze",
                "tasks", "demo", "lm", "lm train"):
        assert f"prlstm {sub}" in names, f"`prlstm {sub}` is missing from the CLI page"
    for name, parser in cli_help.commands():
        assert f"`{name}`" in text
        for action in parser._actions:  # every option of every command is listed
            for option in action.option_strings:
                assert option in text, f"{name}: {option} is missing from the CLI page"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path) -> None:
    """The whole site builds with every warning an error (links, anchors, API docstrings).
    About 5 s of building on a 2-core machine, plus starting Python and importing torch."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or (
                "." in module and importlib.util.find_spec(module) is None):
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(CONFIG), "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    problems = [line for line in run.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert run.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        problems or run.stderr.splitlines()[-20:])
    site = tmp_path / "site"
    assert (site / "api" / "index.html").is_file() and (site / "cli" / "index.html").is_file()
    api = (site / "api" / "index.html").read_text()
    for anchor in ("prlstm.PRLSTM", "prlstm.StreamState", "prlstm.PRState", "prlstm.tasks",
                   "prlstm.models.register", "prlstm.models.ModelSpec",
                   "prlstm.models.count_parameters", "prlstm.models.width_for_params",
                   "prlstm.hf.PRLSTMForCausalLM"):
        assert f'id="{anchor}"' in api, f"the API page has no entry for {anchor}"
    assert "prlstm lm train" in (site / "cli" / "index.html").read_text()
    assert (site / "repo" / "results" / "cpu" / "report" / "report" / "index.html").is_file(), \
        "the results reports that the pages link to are not part of the site"
    print(f"mkdocs build --strict: {time.monotonic() - start:.1f} s")
