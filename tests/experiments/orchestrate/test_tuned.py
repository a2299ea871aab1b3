"""Tuned sweeps: lrs chosen on validation with tuning seeds, then the reporting seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prlstm.cli import main
from prlstm.experiments.orchestrate import presets
from prlstm.experiments.orchestrate.presets import Preset, make_config
from prlstm.experiments.orchestrate.tuned import label_cells, run_tuned_sweep
from prlstm.experiments.orchestrate.tuning import (
    choice_path,
    choose_lr,
    read_choice,
    validation_scores,
)
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.run.config import RunConfig

LRS = [1e-3, 3e-2]


def _make(task: str, model: str, hp: dict[str, Any], seed: int, lr: float) -> RunConfig:
    return make_config(task, model, "smoke", hparams=hp, seed=seed, lr=lr, val_every=2)


def test_labels_follow_the_report() -> None:
    cells = label_cells([("parity_check", "lstm", {"hidden_size": 8}),
                         ("parity_check", "lstm", {"hidden_size": 12}),
                         ("parity_check", "rnn", {"hidden_size": 8})])
    assert [c.label for c in cells] == ["lstm hidden_size=8", "lstm hidden_size=12", "rnn"]


@pytest.mark.slow
def test_tune_choose_then_train_the_seeds(tmp_path: Path) -> None:
    cells = label_cells([("parity_check", "lstm", {}), ("parity_check", "rnn", {})])
    summaries, chosen = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS,
                                        tune_seeds=[100], seeds=[0, 1])
    assert [s["status"] for s in summaries] == ["done"] * 8  # 2 cells x 2 lrs + 2 cells x 2
    for cell in cells:
        record = read_choice(choice_path(tmp_path, cell.task, cell.label))
        dirs = [tmp_path / "tuning" / "runs" / _make(cell.task, cell.model, {}, 100, lr).run_id()
                for lr in LRS]
        scores = validation_scores(dirs)
        want = choose_lr({lr: list(v.values()) for lr, v in scores.items()})
        assert record.chosen == chosen[(cell.task, cell.label)] == want
        assert sorted(record.grid) == LRS
        for d in dirs:  # trained and validated, never scored on the test set
            assert not (d / "result.json").exists()
            assert json.loads((d / "config.json").read_text())["test"] is False
    reported = load_results(tmp_path)  # the tuning runs are left out
    assert sorted((r["model"], r["config"]["seed"]) for r in reported) == [
        ("lstm", 0), ("lstm", 1), ("rnn", 0), ("rnn", 1)]
    assert all(r["config"]["lr"] == chosen[("parity_check", r["model"])] for r in reported)

    again, chosen_again = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS,
                                          tune_seeds=[100], seeds=[0, 1])
    assert {s["status"] for s in again} == {"skipped"} and chosen_again == chosen

    # results/ keeps no checkpoints: with the choice files, a fresh clone trains no tuning run
    import shutil
    shutil.rmtree(tmp_path / "tuning" / "runs")
    third, chosen_third = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS,
                                          tune_seeds=[100], seeds=[0, 1])
    assert [s["status"] for s in third] == ["skipped"] * 4 and chosen_third == chosen
    assert not (tmp_path / "tuning" / "runs").exists()


@pytest.mark.slow
def test_a_wider_grid_reuses_the_trained_tuning_runs(tmp_path: Path) -> None:
    """Re-running with more lrs trains only the new lrs' tuning runs, chooses again over the
    whole wider grid (rewriting the choice file), and trains the reporting seeds at the new
    choice; the report then counts only the runs at that lr."""
    cells = label_cells([("parity_check", "rnn", {})])
    run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS, tune_seeds=[100], seeds=[0])
    wider = [3e-4, *LRS]
    summaries, chosen = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=wider,
                                        tune_seeds=[100], seeds=[0])
    tuning = {s["lr"]: s["status"] for s in summaries if s["seed"] == 100}
    assert tuning == {3e-4: "done", 1e-3: "skipped", 3e-2: "skipped"}
    record = read_choice(choice_path(tmp_path, "parity_check", "rnn"))
    assert list(record.grid) == wider
    dirs = [tmp_path / "tuning" / "runs" / _make("parity_check", "rnn", {}, 100, lr).run_id()
            for lr in wider]
    scores = validation_scores(dirs)
    assert record.chosen == chosen[("parity_check", "rnn")] == choose_lr(
        {lr: list(v.values()) for lr, v in scores.items()})
    reporting = [s for s in summaries if s["seed"] == 0]
    assert [s["lr"] for s in reporting] == [record.chosen]


def test_seeds_must_be_apart_and_validation_on(tmp_path: Path) -> None:
    cells = label_cells([("parity_check", "lstm", {})])
    with pytest.raises(ValueError, match=r"tuning seeds \[0\] are also reporting seeds"):
        run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS, tune_seeds=[0], seeds=[0, 1])

    def no_val(*args: Any) -> RunConfig:
        return _make(*args).__class__.from_dict({**_make(*args).to_dict(), "val_every": 0})

    with pytest.raises(ValueError, match="tuning needs validation"):
        run_tuned_sweep(cells, no_val, tmp_path, tune_lrs=LRS, tune_seeds=[9], seeds=[0])


@pytest.mark.slow
def test_cli_sweep_with_a_tuned_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    smoke = presets.PRESETS["smoke"]
    tiny = Preset(name="smoke", run={**smoke.run, "val_every": 2}, hparams=smoke.hparams,
                  tasks=("parity_check",), models=("rnn",), seeds=(0,), tune_lrs=tuple(LRS),
                  tune_seeds=(7,))
    monkeypatch.setitem(presets.PRESETS, "smoke", tiny)
    out = tmp_path / "out"
    assert main(["sweep", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "lr tuning over [0.001, 0.03] (seeds [7]), then 1 runs" in err
    assert err.count("(tuning): validation ") == 2
    record = json.loads(choice_path(out, "parity_check", "rnn").read_text())
    assert record["chosen_lr"] in LRS and f"tuned   parity_check/rnn: lr {record['chosen_lr']:g}" \
        in err
    (result,) = load_results(out)
    assert result["config"]["lr"] == record["chosen_lr"]
    # --lrs turns tuning off
    assert main(["sweep", "--preset", "smoke", "--lrs", "1e-3", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    assert not (tmp_path / "b" / "tuning").exists()


@pytest.mark.slow
def test_cli_tunes_any_model_with_flags(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """No preset: --tune-lrs / --tune-seeds tune a plain grid (a user's own model would go
    through the same path)."""
    out = tmp_path / "flags"
    flags = ["--tasks", "parity_check", "--models", "rnn", "--steps", "4", "--batch-size", "8",
             "--train-length", "5", "--eval-length", "12", "--eval-per-length", "8",
             "--eval-batch-size", "8", "--val-every", "2", "--hidden-size", "8", "--quiet",
             "--device", "cpu"]
    assert main(["sweep", *flags, "--tune-lrs", "1e-3", "0.03", "--tune-seeds", "5",
                 "--seeds", "0", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "lr tuning over [0.001, 0.03] (seeds [5]), then 2 runs" in err
    record = json.loads(choice_path(out, "parity_check", "rnn").read_text())
    assert [list(v["scores"]) for v in record["validation"]] == [["5"], ["5"]]
    assert record["grid"] == LRS and record["chosen_lr"] in LRS
    assert sorted(r["seed"] for r in load_results(out)) == [0, 1]
    assert {r["config"]["lr"] for r in load_results(out)} == {record["chosen_lr"]}


@pytest.mark.slow
def test_your_model_beside_a_tuned_presets_runs(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The workflow of docs/benchmark.md#your-model-in-the-fair-comparison: a plugin model
    swept into a directory that holds a tuned preset's runs trains only itself (tuned on
    validation like the preset's cells, at the preset's budget) and is reported against them."""
    out, plugin = tmp_path / "fair", "tests.models.plugin_model:build"
    tiny = ["--preset", "cpu-fair", "--tasks", "parity_check", "--seeds", "0", "1",
            "--steps", "4", "--eval-length", "43", "--eval-per-length", "4",
            "--eval-batch-size", "4", "--val-every", "2", "--tune-lrs", "1e-3", "3e-3",
            "--hidden-size", "8", "--workers", "1", "--quiet", "--out", str(out)]
    assert main(["sweep", *tiny, "--models", "mingru"]) == 0
    theirs = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    capsys.readouterr()
    assert main(["sweep", *tiny, "--models", plugin]) == 0
    err = capsys.readouterr().err
    assert err.count("(tuning): validation ") == 2 and "mingru" not in err
    assert all(p.stat().st_mtime_ns == t for p, t in theirs.items())  # nothing of theirs moved
    chosen = read_choice(choice_path(out, "parity_check", plugin)).chosen
    mine = [r for r in load_results(out) if r["model"] == plugin]
    assert sorted(r["seed"] for r in mine) == [0, 1]
    assert {r["config"]["lr"] for r in mine} == {chosen}
    budget = make_config("parity_check", "mingru", "cpu-fair", steps=4)
    assert {(r["config"]["steps"], r["config"]["lr_decay_fraction"]) for r in mine} == {
        (4, budget.lr_decay_fraction)}
    report = tmp_path / "report"
    assert main(["report", str(out), "--reference", "mingru", "--out", str(report)]) == 0
    data = json.loads((report / "comparison.json").read_text())
    (pair,) = data["pairs"]
    assert (pair["reference"], pair["other"]) == ("mingru", plugin)
    cell = next(c for c in data["cells"] if c["variant"] == plugin)
    assert cell["n"] == 2 and cell["lr"]["chosen"] == chosen


def test_a_choice_file_is_never_reused_for_another_variant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two widths of one model swept apart into one directory share a label ("rnn") and so a
    choice file; the second sweep is refused rather than reuse the first width's lr, and a
    report gives that width no choice. Swept together, they are labelled apart."""
    out = tmp_path / "out"
    flags = ["--tasks", "parity_check", "--models", "rnn", "--steps", "4", "--batch-size", "8",
             "--train-length", "5", "--eval-length", "12", "--eval-per-length", "8",
             "--eval-batch-size", "8", "--val-every", "2", "--quiet", "--device", "cpu",
             "--tune-lrs", "1e-3", "0.03", "--seeds", "0", "--out", str(out)]
    assert main(["sweep", *flags, "--hidden-size", "8"]) == 0
    record = read_choice(choice_path(out, "parity_check", "rnn"))
    assert record.variant == {"model": "rnn", "hparams": {"hidden_size": 8}}
    capsys.readouterr()
    assert main(["sweep", *flags, "--hidden-size", "6"]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the sweep's header line
    assert err.startswith("prlstm sweep: error: lr choice file ")
    assert "was made for rnn {'hidden_size': 8}, not rnn {'hidden_size': 6}" in err
    assert "labelled 'rnn'" in err
    assert len(load_results(out)) == 1  # nothing of the second width was trained
    # a copied-in run of the other width: the report does not lend it the first width's lr
    wide = make_config("parity_check", "rnn", "smoke", hparams={"hidden_size": 6}, seed=0,
                       lr=record.chosen)
    from prlstm.experiments.reporting.comparison import cell_entry

    fake = [{"task": "parity_check", "model": "rnn", "lr": record.chosen, "score": 0.5,
             "config": wide.to_dict()}]
    entry = cell_entry("parity_check", "rnn", fake, out)
    assert entry["lr"]["chosen"] is None
    assert "made for rnn {'hidden_size': 8}" in entry["lr"]["unreadable"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--lrs", "1e-3", "--tune-lrs", "1e-3"], "--lrs and --tune-lrs exclude each other"),
    (["--tune-seeds", "5"], "--tune-seeds needs --tune-lrs"),
    (["--tune-lrs", "1e-3", "--tune-seeds", "0"], "tuning seeds [0] are also reporting seeds"),
    (["--tune-lrs", "fast"], "--tune-lrs"),
])
def test_cli_tuning_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      extra: list[str], message: str) -> None:
    code = main(["sweep", "--tasks", "parity_check", "--models", "rnn", "--val-every", "2",
                 "--out", str(tmp_path / "x"), "--quiet", *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_tuning_runs_never_evaluate_the_test_set(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from prlstm.experiments.orchestrate import sweep

    evaluated: list[str] = []
    real = sweep.evaluate_run

    def spy(run_dir: Any, **kwargs: Any) -> Any:
        evaluated.append(str(run_dir))
        return real(run_dir, **kwargs)

    monkeypatch.setattr(sweep, "evaluate_run", spy)
    cells = label_cells([("parity_check", "rnn", {})])
    summaries, _ = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS, tune_seeds=[100],
                                   seeds=[0])
    assert [s["status"] for s in summaries] == ["done", "done", "done"]
    assert len(evaluated) == 1  # the one reporting run
    assert Path(evaluated[0]).relative_to(tmp_path).parts[0] == "parity_check"
    assert "score" not in summaries[0] and "score" in summaries[2]
    assert 0.0 <= summaries[0]["val_score"] <= 1.0 and summaries[0]["train_seconds"] > 0
    again, _ = run_tuned_sweep(cells, _make, tmp_path, tune_lrs=LRS, tune_seeds=[100],
                               seeds=[0])
    # the choice is recorded, so only the reporting run is looked at (and skipped)
    assert [s["status"] for s in again] == ["skipped"] and len(evaluated) == 1


def test_test_flag_is_operational_and_checked() -> None:
    on = _make("parity_check", "rnn", {}, 0, 1e-3)
    off = RunConfig.from_dict({**on.to_dict(), "test": False})
    assert off.run_id() == on.run_id() and not off.differences(on)
    with pytest.raises(ValueError, match="test must be True or False, got 'no'"):
        RunConfig.from_dict({**on.to_dict(), "test": "no"})
