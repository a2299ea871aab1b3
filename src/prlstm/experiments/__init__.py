"""Training, evaluation, sweeps and reports for the formal-language benchmark.

>>> from prlstm.experiments import make_config, train, evaluate_run
>>> config = make_config("parity_check", "pr_lstm", "smoke")
>>> summary = train(config, "runs/demo")          # doctest: +SKIP
>>> result = evaluate_run("runs/demo")            # doctest: +SKIP
"""

from prlstm.experiments.orchestrate.presets import get_preset, make_config, preset_names
from prlstm.experiments.orchestrate.sweep import run_sweep
from prlstm.experiments.reporting.report import markdown_table, write_report
from prlstm.experiments.run.checkpoint import CheckpointError
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import accuracy_by_length, evaluate_run, score
from prlstm.experiments.run.metrics import masked_accuracy, sequence_loss
from prlstm.experiments.run.train import TrainSummary, train

__all__ = [
    "CheckpointError",
    "RunConfig",
    "TrainSummary",
    "accuracy_by_length",
    "evaluate_run",
    "get_preset",
    "make_config",
    "markdown_table",
    "masked_accuracy",
    "preset_names",
    "run_sweep",
    "score",
    "sequence_loss",
    "train",
    "write_report",
]
