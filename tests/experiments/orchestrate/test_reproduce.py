"""``prlstm reproduce``: a saved run re-trains to identical numbers, a tampered one does not."""

from __future__ import annotations

import json
import shutil

import pytest

from prlstm.cli import main
from prlstm.experiments.orchestrate.reproduce import describe, reproduce
from prlstm.experiments.run.evaluate import evaluate_run
from prlstm.experiments.run.io import with_digest
from prlstm.experiments.run.train import train


@pytest.mark.slow
def test_reproduce_exact_and_tampered(smoke, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    train(smoke(steps=4, val_every=2, lr_decay_fraction=0.5), run, progress=False)
    evaluate_run(run, progress=False)
    rep = reproduce(run, tmp_path)
    assert rep.exact and "reproduced exactly" in describe(rep)
    assert main(["reproduce", str(run), "--quiet", "--work-dir", str(tmp_path)]) == 0
    result = json.loads((run / "result.json").read_text())
    result["score"] += 0.01
    (run / "result.json").write_text(json.dumps(result))
    rep = reproduce(run, tmp_path)
    assert rep.mismatches == ["score"] and "NOT reproduced" in describe(rep)
    assert main(["reproduce", str(run), "--quiet", "--work-dir", str(tmp_path)]) == 1


def test_reproduce_needs_a_finished_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        reproduce(tmp_path)


def test_reproduce_reports_recorded_settings_that_differ(smoke, tmp_path) -> None:
    run = tmp_path / "run"
    train(smoke(steps=2), run, progress=False)
    saved = evaluate_run(run, progress=False)
    assert reproduce(run, tmp_path, log=None).settings == []  # recorded by this very process

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    edited = {key: value for key, value in saved.items() if key != "digest"}
    level = "DEFAULT" if saved["cpu_capability"] != "DEFAULT" else "AVX2"  # not this one
    edited.update(cpu_capability=level, train_threads=7, torch_version="1.0.0")
    edited["cpu_env"] = {**saved["cpu_env"], "mkl_cbwr": "AUTO",
                         "env": {**saved["cpu_env"]["env"], "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}}
    (copy / "result.json").write_text(json.dumps(with_digest(edited)))
    logged: list[str] = []
    rep = reproduce(copy, tmp_path, log=logged.append)
    assert rep.exact  # the numbers, from this process, still agree
    now = saved["cpu_env"]
    mkl_now = "unset" if now["mkl_cbwr"] in (None, "OFF") else now["mkl_cbwr"]
    assert rep.settings[:5] == [
        f"  cpu_capability: recorded {level}, this process {saved['cpu_capability']}",
        f"  MKL_CBWR: recorded AUTO, this process {mkl_now}",
        f"  ONEDNN_MAX_CPU_ISA: recorded AVX512_CORE, this process "
        f"{now['env']['ONEDNN_MAX_CPU_ISA'] or 'unset'}",
        f"  threads: recorded 7, this process {saved['train_threads']}",
        f"  torch_version: recorded 1.0.0, this process {saved['torch_version']}",
    ]
    assert f"ATEN_CPU_CAPABILITY={level.lower()}" in rep.settings[-1]
    assert "MKL_CBWR=AUTO" in rep.settings[-1] and "OMP_NUM_THREADS=7" in rep.settings[-1]
    assert logged and logged[0].splitlines()[1:] == rep.settings  # before re-training
    text = describe(rep)
    assert text.startswith("settings (recorded vs this process):\n  cpu_capability")
    assert text.endswith("every length and log row identical")

    del edited["cpu_env"]  # a result from before cpu_env
    (copy / "result.json").write_text(json.dumps(with_digest(edited)))
    rep = reproduce(copy, tmp_path, log=None)
    assert "  MKL_CBWR: not recorded (the result predates cpu_env), this process" in "\n".join(
        rep.settings)
