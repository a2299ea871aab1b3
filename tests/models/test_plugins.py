"""Models from outside prlstm: register(), entry points and import paths, end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from prlstm import models
from prlstm.cli import main
from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.sweep import run_sweep
from prlstm.models import plugins
from tests.models import plugin_model

PATH = "tests.models.plugin_model:build"


@pytest.fixture(autouse=True)
def _clean_registry():
    yield
    for name in list(plugins.registered()):
        models.unregister(name)
    plugins._entry_points.cache_clear()


def test_register_and_build() -> None:
    models.register("tiny_gru", plugin_model.build, source="tests")
    assert "tiny_gru" in models.names()
    assert models.default_hparams("tiny_gru") == {"hidden_size": 8, "bias_init": 0.0}
    model = models.build("tiny_gru", 3, 4, hidden_size=5)
    assert isinstance(model, models.BenchmarkModel)
    assert model.config == {"model": "tiny_gru", "input_size": 3, "output_size": 4,
                            "hidden_size": 5, "bias_init": 0.0}
    assert model(torch.randint(0, 3, (2, 7)), output_length=1).shape == (2, 1, 4)
    assert model.core.gru.input_size == 4  # the core reads one-hots of width V + 1
    again = models.from_config(json.loads(json.dumps(model.config)))
    assert again.config == model.config


def test_register_with_explicit_hparams_and_errors() -> None:
    models.register("tiny2", plugin_model.build, {"hidden_size": 4})
    assert models.default_hparams("tiny2") == {"hidden_size": 4}
    with pytest.raises(ValueError, match="'tiny2' does not take option.*'bias_init'"):
        models.build("tiny2", 2, 2, bias_init=1.0)
    with pytest.raises(ValueError, match="already registered"):
        models.register("tiny2", plugin_model.build)
    models.register("tiny2", plugin_model.build, replace=True)
    with pytest.raises(ValueError, match="built-in model"):
        models.register("lstm", plugin_model.build)
    with pytest.raises(ValueError, match="name must start with a letter"):
        models.register("../x", plugin_model.build)
    with pytest.raises(TypeError, match="must be callable"):
        models.register("x", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON values"):
        models.register("y", plugin_model.build, {"hidden_size": object()})


def test_open_ended_factory_takes_any_option() -> None:
    models.register("anyopt", plugin_model.build_any)
    assert models.build("anyopt", 2, 2, whatever=3).config["whatever"] == 3


def test_import_path_builds_without_registration() -> None:
    model = models.build(PATH, 2, 2, hidden_size=6)
    assert model.config["model"] == PATH and model.core.gru.hidden_size == 6
    assert models.default_hparams(PATH) == {"hidden_size": 8, "bias_init": 0.0}


@pytest.mark.parametrize(("target", "match"), [
    ("tests.models.plugin_model:not_a_module", "returned int; expected a torch.nn.Module"),
    ("tests.models.plugin_model:wrong_shape", r"returned shape \(2, 2, 3\); expected \(2, 2, 2\)"),
    ("tests.models.plugin_model:nan_model", "non-finite"),
    ("tests.models.plugin_model:crashes", "probe forward .* failed: RuntimeError: boom"),
    ("tests.models.plugin_model:NOT_CALLABLE", "is a int, expected a factory"),
    ("tests.models.plugin_model:missing", "has no attribute 'missing'"),
    ("tests.models.no_such_module:build", "cannot import module"),
    ("no_colon_here", "unknown model 'no_colon_here'"),
])
def test_bad_factories_get_one_clear_error(target: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        models.build(target, 2, 2)
    assert "\n" not in str(info.value)
    assert target in str(info.value)


CWD_FACTORY = """
import torch

def build(input_size, output_size, hidden_size=5):
    return torch.nn.Linear(input_size, output_size)
"""


def _cwd_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> None:
    """``name.py`` in a fresh current directory that is not on ``sys.path`` (as under the
    ``prlstm`` console script), removed from ``sys.modules`` afterwards."""
    monkeypatch.delitem(sys.modules, name, raising=False)
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_the_current_directory_is_not_imported_from_but_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A module beside you is not imported by the console script (a run directory from
    elsewhere must not make prlstm run code that came with it); the error says how to."""
    _cwd_only(tmp_path, monkeypatch, "prlstm_cwd_plugin", CWD_FACTORY)
    assert main(["train", "--task", "parity_check", "--model", "prlstm_cwd_plugin:build",
                 "--preset", "smoke", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prlstm train: error: model 'prlstm_cwd_plugin:build': cannot "
                          "import module") and "\n" not in err
    assert err.endswith("'prlstm_cwd_plugin' is in the current directory, which the prlstm "
                        "command does not import from: run it as PYTHONPATH=. prlstm …")
    assert "prlstm_cwd_plugin" not in sys.modules and not (tmp_path / "runs").exists()
    monkeypatch.syspath_prepend(str(tmp_path))  # what PYTHONPATH=. does
    assert models.default_hparams("prlstm_cwd_plugin:build") == {"hidden_size": 5}
    with pytest.raises(ValueError, match="expected an importable 'package.module:factory'$"):
        models.build("prlstm_elsewhere:build", 2, 2)  # nothing of that name here: no hint


def test_a_missing_dependency_of_a_plugin_is_named(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that is found but imports something missing: the error names the missing
    dependency."""
    _cwd_only(tmp_path, monkeypatch, "prlstm_cwd_needs", "import prlstm_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="No module named 'prlstm_no_such_dependency'"):
        models.build("prlstm_cwd_needs:build", 2, 2)


def test_probe_does_not_move_the_global_rng() -> None:
    torch.manual_seed(0)
    models.build(PATH, 2, 2)
    after = torch.rand(3)
    torch.manual_seed(0)
    plugin_model.build(3, 2)  # the same construction without the probe
    assert torch.equal(torch.rand(3), after)


@pytest.mark.slow
def test_train_eval_report_with_an_import_path(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert main(["train", "--task", "parity_check", "--model", PATH, "--preset", "smoke",
                 "--out", str(runs), "--quiet"]) == 0
    (config_file,) = runs.rglob("config.json")
    config = json.loads(config_file.read_text())
    assert config["model"] == PATH and config["hparams"]["hidden_size"] == 8
    assert "tests.models.plugin_model+build" in str(config_file)  # one directory name
    assert main(["eval", str(config_file.parent), "--quiet"]) == 0
    result = json.loads((config_file.parent / "result.json").read_text())
    assert result["model"] == PATH
    assert main(["report", str(runs), "--no-plots"]) == 0
    assert PATH in (runs / "report" / "report.md").read_text()


@pytest.mark.slow
def test_sweep_with_a_registered_model(tmp_path: Path) -> None:
    models.register("tiny_gru", plugin_model.build)
    configs = [make_config("parity_check", name, "smoke", seed=s)
               for name in ("tiny_gru", PATH) for s in (0, 1)]
    summaries = run_sweep(configs, tmp_path, progress=False)
    assert [s["status"] for s in summaries] == ["done"] * 4
    assert configs[0].hparams == {"hidden_size": 8}  # the preset's width reaches the plugin


def _fake_distribution(root: Path, group_line: str) -> None:
    """An installed distribution with one ``prlstm.models`` entry point (a .dist-info)."""
    (root / "my_models.py").write_text(
        "from tests.models.plugin_model import build\n"
        "from prlstm.models import ModelSpec\n"
        "SPEC = ModelSpec(build, {'hidden_size': 3}, 'a spec', 'my-models 1.0')\n")
    info = root / "my_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[prlstm.models]\n{group_line}\n")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(line: str) -> None:
        _fake_distribution(tmp_path, line)
        monkeypatch.syspath_prepend(str(tmp_path))
        plugins._entry_points.cache_clear()

    yield install
    sys.modules.pop("my_models", None)


def test_entry_point_model_is_listed_and_trains(installed, tmp_path: Path, capsys) -> None:
    installed("ep_gru = my_models:SPEC")
    assert "ep_gru" in models.names()
    assert models.default_hparams("ep_gru") == {"hidden_size": 3}
    assert main(["models"]) == 0
    assert "| ep_gru | hidden_size=3 | my-models 1.0 |" in capsys.readouterr().out
    runs = tmp_path / "runs"
    assert main(["train", "--task", "parity_check", "--model", "ep_gru", "--preset", "smoke",
                 "--hidden-size", "4", "--out", str(runs), "--quiet"]) == 0
    (config_file,) = runs.rglob("config.json")
    assert json.loads(config_file.read_text())["model"] == "ep_gru"


def test_broken_entry_point_is_a_clear_error(installed) -> None:
    installed("broken = my_models:NOPE")
    with pytest.raises(ValueError, match="model 'broken': cannot load entry point my_models:NOPE"):
        models.build("broken", 2, 2)


def test_cli_error_for_a_bad_factory(capsys) -> None:
    code = main(["train", "--task", "parity_check", "--preset", "smoke", "--model",
                 "tests.models.plugin_model:not_a_module"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "expected a torch.nn.Module" in err


@pytest.mark.slow
def test_parameter_matching() -> None:
    target = models.count_parameters("pr_lstm", 2, 2, hidden_size=128)
    assert target == 232_322
    width = models.width_for_params("lstm", target, 2, 2)
    counts = {w: models.count_parameters("lstm", 2, 2, hidden_size=w)
              for w in (width - 1, width, width + 1)}
    assert all(abs(counts[width] - target) <= abs(c - target) for c in counts.values())
    assert models.width_for_params("pr_lstm", 67_842, 2, 2) == 69
    assert models.width_for_params("transformer", 248_962, 2, 2, key="embedding_dim") == 64
    with pytest.raises(ValueError, match="target must be a positive int"):
        models.width_for_params("lstm", 0, 2, 2)


@pytest.mark.slow
def test_models_cli_params_and_match(capsys) -> None:
    assert main(["models", "--params", "--models", "lstm,rnn", "--hidden-size", "128"]) == 0
    out = capsys.readouterr().out
    assert "| lstm | 67,842 |" in out and "| rnn | 17,282 |" in out
    assert main(["models", "--match", "pr_lstm", "--hidden-size", "128", "--models",
                 "lstm"]) == 0
    assert "| lstm | hidden_size | 239 | 232,788 | +0.2 % |" in capsys.readouterr().out


@pytest.mark.slow
def test_registered_model_reaches_spawned_workers(tmp_path: Path) -> None:
    models.register("tiny_gru", plugin_model.build)
    configs = [make_config("parity_check", "tiny_gru", "smoke", seed=s) for s in (0, 1)]
    summaries = run_sweep(configs, tmp_path, workers=2, progress=False)
    assert [s["status"] for s in summaries] == ["done", "done"], summaries


def test_unpicklable_registration_is_refused_before_workers_start(tmp_path: Path) -> None:
    models.register("local_fn", lambda i, o, hidden_size=4: plugin_model.build(i, o, 4))
    configs = [make_config("parity_check", "local_fn", "smoke", seed=s) for s in (0, 1)]
    with pytest.raises(ValueError, match="'local_fn' was registered with a factory that "
                                         "cannot be sent to worker processes"):
        run_sweep(configs, tmp_path, workers=2, progress=False)
