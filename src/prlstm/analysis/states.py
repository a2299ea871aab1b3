"""Hidden states at every prefix, on the benchmark's fixed test set.

Used by the probes and CKA: docs/experiments.md#probing-the-automaton-state and
docs/experiments.md#state-similarity-cka.

The fixed test set is the one :mod:`prlstm.experiments.run.evaluate` scores: sub-batch ``j`` of
length ``l`` is drawn with ``eval_batch_seed(config, l, j)``, identical for every model and
seed. :func:`eval_sequences` takes its sequences of the longest lengths (each one's prefixes
give states at every position), :func:`prefix_states` reads the hidden state ``h_t`` of every input
position (the appended empty output tokens excluded) from any core with a ``hidden(x)``
method: the PR models, the LSTM and the RNN. (The Transformer encoder is not causal, so its
position-t output is no prefix state; it is not supported.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from prlstm.experiments.run.checkpoint import has_checkpoint, load_checkpoint, read_manifest
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import eval_batch_seed
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.io import atomic_write_file, read_json
from prlstm.experiments.run.train import CONFIG_FILE
from prlstm.tasks import Task

#: Model weights only (no optimizer state), written by :func:`load_run_model`.
FINAL_WEIGHTS = "final.safetensors"


@dataclass(frozen=True)
class EvalSequences:
    """Right-padded token ids ``inputs`` (N, T_max) with true ``lengths`` (N,)."""

    inputs: Tensor
    lengths: Tensor

    def valid(self) -> Tensor:
        """(N, T_max) bool: position t exists in sequence n."""
        return torch.arange(self.inputs.shape[1])[None, :] < self.lengths[:, None]


def eval_sequences(config: RunConfig, task: Task, num_lengths: int = 8) -> EvalSequences:
    """The fixed test set's sequences of the ``num_lengths`` longest lengths ``M - k + 1..M``
    (all ``eval_per_length`` of each)."""
    if isinstance(num_lengths, bool) or not isinstance(num_lengths, int) or not (
            1 <= num_lengths <= config.eval_length):
        raise ValueError(f"num_lengths must be an int in [1, {config.eval_length}], got "
                         f"{num_lengths!r}")
    rows, lengths = [], []
    T_max = config.eval_length
    for length in range(T_max - num_lengths + 1, T_max + 1):
        for j in range(config.eval_per_length // config.eval_batch_size):
            x = task.sample_batch(config.eval_batch_size, length,
                                  seed=eval_batch_seed(config, length, j)).inputs  # (b, T)
            rows.append(torch.nn.functional.pad(x, (0, T_max - x.shape[1])))
            lengths += [x.shape[1]] * x.shape[0]
    return EvalSequences(torch.cat(rows), torch.tensor(lengths))


@torch.inference_mode()
def prefix_states(model: nn.Module, data: EvalSequences, chunk: int = 32) -> Tensor:
    """``h_t`` after every prefix: (N, T_max, H), zero at padded positions.

    ``model`` is a :class:`~prlstm.models.protocol.BenchmarkModel` whose core has
    ``hidden(x)`` (PR models, ``lstm``, ``rnn``); sequences of one length run together.
    """
    core = getattr(model, "core", None)
    if not callable(getattr(core, "hidden", None)):
        raise ValueError(f"model {getattr(model, 'model_name', type(model).__name__)!r} has no "
                         f"causal hidden(x) (PR models, lstm and rnn do)")
    was_training = model.training
    model.eval()
    out: Tensor | None = None
    try:
        for length in data.lengths.unique().tolist():
            idx = (data.lengths == length).nonzero().flatten()
            for part in idx.split(chunk):
                x = data.inputs[part, :length]  # (b, T)
                seq = model.extended_inputs(x, 1)  # (b, T + 1, V + 1)
                h = core.hidden(seq)[:, :length].float().cpu()  # (b, T, H)
                if out is None:
                    out = torch.zeros(*data.inputs.shape, h.shape[-1])
                out[part, :length] = h
    finally:
        model.train(was_training)
    assert out is not None
    return out


def has_weights(run_dir: str | Path) -> bool:
    """Whether a run's final weights can be loaded: a checkpoint or ``final.safetensors``."""
    return (Path(run_dir) / FINAL_WEIGHTS).is_file() or has_checkpoint(run_dir)


def load_run_model(run_dir: str | Path, trained: bool = True) -> tuple[RunConfig, Task, nn.Module]:
    """A saved run's config, task and model on the CPU: its final weights when ``trained``,
    else the initialisation the run started from (same seed, no update).

    Final weights come from ``final.safetensors`` (model weights only, small enough to commit)
    if present, else from the finished checkpoint, which then also writes ``final.safetensors``.
    """
    root = Path(run_dir)
    config = RunConfig.from_dict(read_json(root / CONFIG_FILE))
    task = build_task(config)
    model = build_model(config, task, "cpu")
    if not trained:
        return config, task, model
    final = root / FINAL_WEIGHTS
    if final.is_file():
        load_model(model, str(final))
        return config, task, model
    manifest = read_manifest(root)
    if manifest["step"] != config.steps:
        raise ValueError(f"run {root} stopped at step {manifest['step']} of {config.steps}; "
                         f"finish it first")
    load_checkpoint(root, model, config=config, device="cpu")
    atomic_write_file(final, lambda name: save_model(model, name))
    return config, task, model
