"""Training, evaluation, sweeps and reports for the formal-language benchmark.

>>> from prlstm.experiments import make_config, train, evaluate_run
>>> config = make_config("parity_check", "pr_lstm", "smoke")
>>> summary = train(config, "runs/demo")          # doctest: +SKIP
>>> result = evaluate_run("runs/demo")            # doctest: +SKIP
"""

from prlstm.experiments.checkpoint import CheckpointError
from prlstm.experiments.config import RunConfig
from prlstm.experiments.evaluate import accuracy_by_length, evaluate_run, score
from prlstm.experiments.metrics import masked_accuracy, sequence_loss
from prlstm.experiments.presets import get_preset, make_config, preset_names
from prlstm.experiments.report import markdown_table, write_report
from prlstm.experiments.sweep import run_sweep
from prlstm.experiments.train import TrainSummary, train

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
