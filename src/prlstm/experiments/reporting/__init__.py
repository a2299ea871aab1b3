"""Reporting: results tables, intervals and tests, plots and stability, from saved results.

``results`` (loading and grouping ``result.json``), ``report`` (the Markdown tables),
``budget`` (the budget lines above them), ``stats``, ``comparison`` (the fair-comparison
section), ``published`` (published scores), ``plots`` and ``stability``.
"""
