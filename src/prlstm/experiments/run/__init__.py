"""Running one job: its config, training, evaluation, checkpoints and the files they write.

``config`` (:class:`RunConfig`), ``factory`` (task and seeded model), ``seeding``, ``metrics``,
``loop`` (the update step and loop shared with the character LM), ``train``, ``evaluate``,
``checkpoint``, ``trainlog``, ``io`` (atomic writes), ``lock`` (one writer per directory),
``interrupt`` (Ctrl-C), ``distributed`` (torchrun) and ``cpu_env`` (pinned CPU numerics).
"""
