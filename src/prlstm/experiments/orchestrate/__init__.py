"""Orchestrating many jobs: presets, sweeps on an engine, learning-rate tuning, reproduction.

``presets`` (budgets and grids), ``sweep`` (the local engine and the per-run code
:func:`~prlstm.experiments.orchestrate.sweep.run_one`), ``ray_engine``, ``tuning`` (the lr
choice rule), ``tuned`` (tune, choose, then train the seeds) and ``reproduce``.
"""
