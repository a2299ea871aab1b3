"""Griffe extension: reStructuredText roles in docstrings rendered as Markdown code.

The package's docstrings name other objects Sphinx-style (``:class:`~prlstm.layer.PRState```,
``:func:`register```). The API pages are Markdown, where those roles would show up
literally; this extension turns each into an inline code span of the name (the last dotted
part when the target starts with ``~``), which is how the rest of the text quotes names.
"""

from __future__ import annotations

import re

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    name = match.group(2)
    if match.group(1):
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


class RstRoles(Extension):
    """Rewrite ``:role:`target``` in every docstring that griffe loads."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code, obj.docstring.value)
