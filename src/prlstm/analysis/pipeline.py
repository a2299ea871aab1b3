"""``analyze(runs_dir)``: the merge table, probes and CKA from saved runs.

Definitions: docs/experiments.md#e3-what-the-merge-cell-and-the-tree-contribute.

* merge table — every ``pr_*`` run's score and in-range accuracy, grouped by variant
  (merge, R, schedule) and task, mean ± std over seeds;
* probes — for every finished run of a labelled regular task whose model has prefix states
  (the base ``pr_*`` variant, ``lstm``, ``rnn``) and whose final weights are saved (a
  checkpoint, or the ``final.safetensors`` that loading a checkpoint leaves behind): probe
  accuracy per bucket (and per position bin, for plots), trained and untrained;
* CKA — per bucket and bin: model vs model (every seed pair), seed vs seed within a model,
  trained vs its own untrained initialisation, and every model (trained and untrained) vs
  the one-hot automaton label (how much of a state is the label itself).

All numbers come from the runs' checkpoints and result files; nothing is trained here.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from prlstm import models
from prlstm.analysis.cka import linear_cka, minibatch_cka
from prlstm.analysis.labels import LABEL_CLASSES, automaton_labels
from prlstm.analysis.probe import BUCKETS, bucket_name, probe_accuracy
from prlstm.analysis.states import (
    EvalSequences,
    eval_sequences,
    has_weights,
    load_run_model,
    prefix_states,
)
from prlstm.experiments.reporting.results import load_results

VARIANT_KEYS = ("merge", "refinements", "schedule")
STATE_MODELS = ("pr_lstm", "pr_rnn", "pr_gru", "lstm", "rnn")


def variant(result: dict[str, Any]) -> dict[str, Any]:
    """The PR-ablation options of a run (registry defaults for options it predates)."""
    config = {**models.HPARAMS.get(result["model"], {}), **result.get("model_config", {})}
    return {k: config[k] for k in VARIANT_KEYS if k in config}


def in_range_accuracy(result: dict[str, Any]) -> float:
    """Mean accuracy over the training lengths 1..N (``result["in_range_accuracy"]`` if the
    evaluation recorded it)."""
    if "in_range_accuracy" in result:
        return float(result["in_range_accuracy"])
    acc = result["accuracy"][: int(result["train_length"])]
    return sum(acc) / len(acc)


def mean_std(values: list[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` (sample std; 0 for one value)."""
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def merge_table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, model, variant): score and in-range accuracy over seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r["model"].startswith("pr_"):
            key = (r["task"], r["model"], tuple(sorted(variant(r).items())))
            groups[key].append(r)
    rows = []
    for (task, model, var), runs in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        rows.append({"task": task, "model": model, **dict(var),
                     "seeds": sorted(int(r["seed"]) for r in runs),
                     "steps": sorted({int(r["steps"]) for r in runs}),
                     "score": mean_std([r["score"] for r in runs]),
                     "in_range_accuracy": mean_std([in_range_accuracy(r) for r in runs])})
    return rows


def _is_base(result: dict[str, Any]) -> bool:
    """A run of a model with prefix states, in its base variant (gated, registry R, tree)."""
    if result["model"] not in STATE_MODELS or result["task"] not in LABEL_CLASSES:
        return False
    defaults = models.HPARAMS[result["model"]]
    return all(variant(result)[k] == defaults[k] for k in variant(result))


def bins(width: int, end: int) -> list[tuple[int, int]]:
    """Position bins ``[k·width, (k+1)·width)`` covering ``[0, end)``."""
    return [(s, min(s + width, end)) for s in range(0, end, width)]


def _rows_at(states: Tensor, valid: Tensor, start: int, end: int) -> Tensor:
    return states[:, start:end][valid[:, start:end]]  # (n, H)


def _cka_entry(a: Tensor, b: Tensor, valid: Tensor, plot_bins: list[tuple[int, int]],
               seed: int) -> dict[str, dict[str, float]]:
    entry: dict[str, dict[str, float]] = {"linear": {}, "minibatch": {}, "bins": {}}
    for start, end in BUCKETS:
        x, y = _rows_at(a, valid, start, end), _rows_at(b, valid, start, end)
        if len(x) >= 4:
            name = bucket_name((start, end))
            entry["linear"][name] = linear_cka(x, y)
            entry["minibatch"][name] = minibatch_cka(x, y, seed=seed)
    for start, end in plot_bins:
        x, y = _rows_at(a, valid, start, end), _rows_at(b, valid, start, end)
        if len(x) >= 4:
            entry["bins"][bucket_name((start, end))] = linear_cka(x, y)
    return entry


def _task_analysis(task_name: str, runs: list[dict[str, Any]], num_lengths: int,
                   bin_width: int, seed: int) -> tuple[list[dict], list[dict], dict]:
    """Probe and CKA entries for the base runs of one task."""
    states: dict[tuple[str, int, bool], Tensor] = {}
    data: EvalSequences | None = None
    for r in sorted(runs, key=lambda r: (r["model"], r["seed"])):
        for trained in (True, False):
            config, task, model = load_run_model(r["run_dir"], trained=trained)
            if data is None:
                data, ref_config = eval_sequences(config, task, num_lengths), config
            elif (config.eval_length, config.eval_per_length, config.eval_seed) != (
                    ref_config.eval_length, ref_config.eval_per_length, ref_config.eval_seed):
                raise ValueError(f"run {r['run_dir']} has another test set than the other "
                                 f"{task_name} runs")
            states[(r["model"], int(r["seed"]), trained)] = prefix_states(model, data)
    assert data is not None
    labels, valid = automaton_labels(task_name, data.inputs), data.valid()
    fit_end = ref_config.train_length
    plot_bins = bins(bin_width, data.inputs.shape[1])
    probes = []
    for (model, s, trained), h in states.items():
        acc = probe_accuracy(h, labels, valid, fit_end=fit_end, buckets=[*BUCKETS, *plot_bins],
                             seed=seed)
        probes.append({"task": task_name, "model": model, "seed": s, "trained": trained,
                       "buckets": {bucket_name(b): acc[bucket_name(b)] for b in BUCKETS},
                       "bins": {bucket_name(b): acc[bucket_name(b)] for b in plot_bins}})
    cka = []
    kinds = sorted({m for m, _, _ in states})
    seeds = {m: sorted({s for k, s, _ in states if k == m}) for m in kinds}
    pairs: list[tuple[str, tuple, tuple]] = []
    for m1, m2 in itertools.combinations(kinds, 2):
        pairs += [(f"{m1} vs {m2}", (m1, a, True), (m2, b, True))
                  for a in seeds[m1] for b in seeds[m2]]
    for m in kinds:
        pairs += [(f"{m} seed vs seed", (m, a, True), (m, b, True))
                  for a, b in itertools.combinations(seeds[m], 2)]
        pairs += [(f"{m} trained vs untrained", (m, s, True), (m, s, False)) for s in seeds[m]]
    for name, ka, kb in pairs:
        cka.append({"task": task_name, "comparison": name, "a": list(ka), "b": list(kb),
                    **_cka_entry(states[ka], states[kb], valid, plot_bins, seed)})
    # Yardstick for "similar": how much of each model's state is the automaton state itself.
    onehot = F.one_hot(labels, LABEL_CLASSES[task_name]).float()  # (N, T, classes)
    for (m, s, trained), h in states.items():
        name = f"{m} {'trained' if trained else 'untrained'} vs label one-hot"
        cka.append({"task": task_name, "comparison": name, "a": [m, s, trained],
                    "b": ["label"], **_cka_entry(h, onehot, valid, plot_bins, seed)})
    lengths = data.lengths
    info = {"sequences": int(len(lengths)), "lengths": [int(lengths.min()), int(lengths.max())],
            "eval_seed": ref_config.eval_seed, "classes": LABEL_CLASSES[task_name],
            "probe_fit_end": fit_end}
    return probes, cka, info


def analyze(runs_dir: str | Path, *, num_lengths: int = 8, bin_width: int = 25,
            seed: int = 0) -> dict[str, Any]:
    """All analysis numbers for the runs under ``runs_dir`` (see the module docstring)."""
    results = load_results(runs_dir)
    if not results:
        raise FileNotFoundError(f"no result.json under {runs_dir}")
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if _is_base(r):
            if has_weights(r["run_dir"]):
                by_task[r["task"]].append(r)
            else:
                print(f"warning: {r['run_dir']} has no final weights; left out of probes/CKA",
                      file=sys.stderr)
    probes, cka, test_sets = [], [], {}
    for task_name in sorted(by_task):
        p, c, info = _task_analysis(task_name, by_task[task_name], num_lengths, bin_width, seed)
        probes += p
        cka += c
        test_sets[task_name] = info
    used = [r for rs in by_task.values() for r in rs]
    budget = {
        "steps": {m: sorted({int(r["steps"]) for r in results if r["model"] == m})
                  for m in sorted({r["model"] for r in results})},
        "seeds": sorted({int(r["seed"]) for r in results}),
        "presets": sorted({str(r.get("preset")) for r in results}),
        "hidden_size": sorted({r.get("model_config", {}).get("hidden_size") for r in results},
                              key=str),
        "train_devices": sorted({str(r.get("train_device")) for r in results}),
        "eval_per_length": sorted({r["config"]["eval_per_length"] for r in results}),
        "runs": len(results), "probed_runs": len(used),
    }
    return {"budget": budget, "merge_table": merge_table(results), "probe": probes, "cka": cka,
            "test_sets": test_sets,
            "settings": {"num_lengths": num_lengths, "bin_width": bin_width, "seed": seed,
                         "probe_fit_positions": "t < train_length, even-indexed sequences",
                         "probe_test": "odd-indexed (held-out) sequences",
                         "buckets": [bucket_name(b) for b in BUCKETS]}}
