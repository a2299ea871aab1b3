"""The budget lines above every results table: steps, seeds, lrs, schedule, validation, device.

Everything is read from the saved results; a setting that differs between models is listed per
model (``"pr_lstm, lstm: ...; transformer: ..."``). Results written before a setting existed
get its value at the time: a constant learning rate and no validation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prlstm import models
from prlstm.experiments.run.evaluate import FIT_THRESHOLD, SOLVED_THRESHOLD

FINAL_WEIGHTS = "Validation never selects weights: the final weights are evaluated."


def _model_order(name: str) -> tuple[int, str]:
    rank = {n: i for i, n in enumerate(models.names())}
    return rank.get(name, len(rank)), name


def _natural(text: str) -> tuple[float, str]:
    try:
        return float(text), text
    except ValueError:
        return math.inf, text


def per_model(results: list[dict[str, Any]], describe: Callable[[dict[str, Any]], str],
              sep: str = " / ") -> str:
    """``describe`` of every result; one text if all models agree, else ``"a, b: x; c: y"``.

    A model whose runs differ lists its distinct texts (numbers in numeric order) joined by
    ``sep``.
    """
    texts: dict[str, set[str]] = defaultdict(set)
    for r in results:
        texts[r["model"]].add(describe(r))
    by_model = {m: sep.join(sorted(v, key=_natural)) for m, v in texts.items()}
    if len(set(by_model.values())) == 1:
        return next(iter(by_model.values()))
    groups: dict[str, list[str]] = defaultdict(list)
    for m in sorted(by_model, key=_model_order):
        groups[by_model[m]].append(m)
    return "; ".join(f"{', '.join(ms)}: {text}" for text, ms in groups.items())


def lr_schedule(result: dict[str, Any]) -> str:
    """``"constant"`` or ``"linear decay to 0 over the last K steps"`` (from the config's
    lr_decay_fraction; runs that predate it used a constant lr)."""
    config = result.get("config", {})
    fraction = float(config.get("lr_decay_fraction") or 0.0)
    if fraction <= 0:
        return "constant"
    decay = max(1, round(fraction * int(config.get("steps", result.get("steps", 0)))))
    return f"linear decay to 0 over the last {decay} steps"


def validation_slice(result: dict[str, Any]) -> str:
    """The run's validation slice in words, or ``"off"``."""
    val = result.get("validation")
    if not isinstance(val, dict):
        return "off"
    lengths = ", ".join(str(n) for n in val.get("lengths", []))
    return (f"every {val.get('every')} steps, lengths {lengths}, {val.get('per_length')} "
            f"sequences per length, seed {val.get('seed')}")


def _joined(results: list[dict[str, Any]], key: str, section: str | None = None) -> str:
    values = {str((r.get(section, {}) if section else r).get(key)) for r in results}
    return ", ".join(sorted(values, key=_natural))


def budget_lines(results: list[dict[str, Any]]) -> list[str]:
    """The budget lines (one sentence-group each) for a non-empty list of results."""
    presets = sorted({str(r.get("preset", "custom")) for r in results})
    steps = per_model(results, lambda r: str(int(r["steps"])))
    if len({int(r["steps"]) for r in results}) == 1:
        steps = f"{steps} (every model)"
    evals = sorted({(r["train_length"], len(r["accuracy"]),
                     r.get("config", {}).get("eval_per_length")) for r in results})
    eval_text = "; ".join(f"test lengths {n + 1}..{m}, {k} sequences per length"
                          for n, m, k in evals)
    widths = {(r.get("model_config") or {}).get("hidden_size") for r in results}
    hparams = [f"H={h}" for h in sorted(widths - {None}, key=lambda h: (str(type(h)), h))]
    validation = per_model(results, validation_slice)
    any_validation = any(isinstance(r.get("validation"), dict) for r in results)
    final = FINAL_WEIGHTS if any_validation else "The final weights are evaluated."
    return [f"Budget preset: {', '.join(presets)}. Training steps: {steps}.",
            f"Seeds: {per_model(results, lambda r: str(r.get('seed')), ', ')}. Learning rates: "
            f"{per_model(results, lambda r: str(r.get('lr')), ', ')} "
            f"({per_model(results, lr_schedule)}); batch {_joined(results, 'batch_size', 'config')}"
            f"; recurrent {', '.join(hparams) or 'n/a'}.",
            f"Validation during training (out-of-range slice): {validation}. {final}",
            f"Device: {_joined(results, 'device')}; torch {_joined(results, 'torch_version')}.",
            f"Evaluation: {eval_text}. Solved = score ≥ {100 * SOLVED_THRESHOLD:.0f} %; fitted = "
            f"in-range accuracy (lengths 1..N) ≥ {100 * FIT_THRESHOLD:.0f} %."]
