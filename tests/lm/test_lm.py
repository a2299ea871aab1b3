"""The char-LM demo: split by file, exact resume, exact generation, CLI, report."""

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from prlstm.cli import main
from prlstm.experiments.run.checkpoint import MANIFEST, CheckpointError, read_manifest
from prlstm.experiments.run.io import read_csv, read_json, with_digest, write_json
from prlstm.lm.data import expand_files, load_corpus, sample_batch
from prlstm.lm.models import LEGACY_NAMES, MODELS, CharLM, CharLMConfig, canonical_names
from prlstm.lm.train import LMConfig, load_run, new_model, train_lm

DATA = Path(__file__).parent / "data"


@pytest.fixture
def corpus_dir(tmp_path):
    d = tmp_path / "text"
    d.mkdir()
    for i in range(6):
        (d / f"f{i}.py").write_text(f"def f{i}(x):\n    return x * {i} + {i}\n" * 30)
    return d


def test_split_is_by_file_and_seeded(corpus_dir):
    files = expand_files([str(corpus_dir)])
    a, b = load_corpus(files, 0.34, seed=1), load_corpus(files, 0.34, seed=1)
    assert a.val_files == b.val_files and len(a.val_files) == 2
    assert not set(a.val_files) & set(a.train_files)
    assert set(a.val_files) | set(a.train_files) == set(files)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(sample_batch(a.train, 4, 16, g1)[0], sample_batch(a.train, 4, 16, g2)[0])
    with pytest.raises(FileNotFoundError, match="no file matches"):
        expand_files([str(corpus_dir / "nope*.txt")])


@pytest.mark.slow
@pytest.mark.parametrize("kind", MODELS)
def test_greedy_generation_equals_full_forwards(kind):
    torch.manual_seed(0)
    cfg = CharLMConfig(model=kind, embedding_size=16, hidden_size=16, num_layers=1, ff_size=32,
                       max_len=64)
    m = CharLM(cfg).double().eval()
    with torch.no_grad():
        m.head.weight.mul_(10)
    prompt = torch.randint(0, 256, (2, 5))
    out = m.generate(prompt, 12, temperature=0)
    seq = prompt
    for _ in range(12):
        seq = torch.cat([seq, m(seq)[:, -1].argmax(-1)[:, None]], 1)
    assert torch.equal(out, seq[:, 5:])


@pytest.mark.slow
def test_resume_is_exact(corpus_dir, tmp_path):
    cfg = LMConfig(model="pr_lstm", files=[str(corpus_dir)], val_fraction=0.34, steps=6,
                   batch_size=2, seq_len=16, val_every=2, ckpt_every=2, eval_windows=2,
                   embedding_size=8, hidden_size=8)
    train_lm(cfg, tmp_path / "a", progress=False, until=3)
    a = train_lm(cfg, tmp_path / "a", progress=False)
    b = train_lm(cfg, tmp_path / "b", progress=False)
    assert a["val_bpc"] == b["val_bpc"] and a["finished"]
    _, ma, _ = load_run(tmp_path / "a")
    _, mb, _ = load_run(tmp_path / "b")
    for p, q in zip(ma.parameters(), mb.parameters(), strict=True):
        assert torch.equal(p, q)
    other = LMConfig(**{**cfg.__dict__, "lr": 1e-3})
    with pytest.raises(ValueError, match="another configuration"):
        train_lm(other, tmp_path / "a", progress=False)


@pytest.mark.slow
def test_cli_train_generate_report(corpus_dir, tmp_path, capsys):
    runs = []
    # the shared names, and (for lstm) the older spellings they replaced, which still work
    sizes = {"pr_lstm": ["--batch-size", "2", "--val-every", "2", "--embedding-size", "8",
                         "--hidden-size", "8", "--num-layers", "1"],
             "lstm": ["--batch", "2", "--eval-every", "2", "--emb", "8", "--hidden", "8"]}
    for model in ("pr_lstm", "lstm"):
        run = tmp_path / model
        runs.append(str(run))
        assert main(["lm", "train", "--model", model, "--out", str(run), "--files",
                     str(corpus_dir), "--val-fraction", "0.34", "--steps", "4",
                     "--seq-len", "16", *sizes[model], "--quiet"]) == 0
        saved = canonical_names(json.loads((run / "config.json").read_text()))
        assert (saved["batch_size"], saved["val_every"], saved["hidden_size"]) == (2, 2, 8)
    capsys.readouterr()
    assert main(["lm", "generate", "--run", runs[0], "--prompt", "def ", "--length", "10"]) == 0
    assert capsys.readouterr().out.startswith("def ")
    assert main(["lm", "report", *runs, "--out", str(tmp_path / "rep")]) == 0
    table = (tmp_path / "rep" / "table.md").read_text()
    assert "| pr_lstm |" in table and "| lstm |" in table and "4 training steps each" in table
    assert main(["lm", "report", *runs, "--out", str(tmp_path / "rep"), "--at-step", "3"]) == 2
    assert main(["lm", "generate", "--run", str(tmp_path / "none")]) == 2


# ------------------------------------------------------------- numbers pinned across refactors
# Computed with the code before LMConfig took the shared names (it built its model from its own
# size table): the same seed must keep giving the same initial weights, batches and losses.
PINNED = {  # model: (train bits/char of steps 1..4, val bits/char after step 4)
    "pr_lstm": ((8.269981384277344, 8.224225044250488, 8.437033653259277, 8.284014701843262),
                8.520169116753886),
    "lstm": ((7.988346576690674, 7.904313087463379, 7.957825660705566, 7.894697189331055),
             7.87209205298709),
    "transformer": ((8.312272071838379, 8.248546600341797, 8.404267311096191,
                     8.069450378417969), 8.240911255519494),
}
PINNED_SIZES = {"pr_lstm": {"embedding_size": 8, "hidden_size": 8},
                "lstm": {"embedding_size": 8, "hidden_size": 8, "num_layers": 2},
                "transformer": {"embedding_size": 8}}


@pytest.mark.slow
@pytest.mark.parametrize("kind", MODELS)
def test_a_seeded_run_keeps_its_losses(corpus_dir, tmp_path, kind):
    cfg = LMConfig(model=kind, files=[str(corpus_dir)], val_fraction=0.34, steps=4,
                   batch_size=2, seq_len=16, val_every=1, ckpt_every=2, **PINNED_SIZES[kind])
    train_lm(cfg, tmp_path / kind, progress=False)
    rows = read_csv(tmp_path / kind / "log.csv")
    train_bpc, val_bpc = PINNED[kind]
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["train_bpc"]) for r in rows] == pytest.approx(train_bpc, rel=1e-6)
    assert float(rows[-1]["val_bpc"]) == pytest.approx(val_bpc, rel=1e-6)


def test_default_sizes_give_the_published_parameter_counts():
    # results/lm/table.md (seq_len 128); 0 = the model's default size
    counts = {"pr_lstm": 305_152, "lstm": 334_272, "transformer": 285_568}
    for kind, count in counts.items():
        model = new_model(LMConfig(model=kind))
        assert sum(p.numel() for p in model.parameters()) == count, kind
    cfg = LMConfig(model="transformer", seq_len=16, num_layers=1)
    assert cfg.model_config() == CharLMConfig(model="transformer", embedding_size=96,
                                              hidden_size=0, num_layers=1, max_len=16)


def test_run_config_errors():
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 1,000,000\]"):
        LMConfig(batch_size=0)
    with pytest.raises(ValueError, match="CharLMConfig.model: expected one of .*, got 'gpt'"):
        LMConfig(model="gpt")
    with pytest.raises(ValueError, match="CharLMConfig.embedding_size: expected a multiple"):
        LMConfig(model="transformer", embedding_size=10)  # refused before any allocation
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch'"):
        LMConfig(batch=2)  # the older names are read from saved files only


# ------------------------------------------------------------ run directories of older versions
def _with_older_names(run: Path) -> None:
    """Rewrite ``run``'s manifest and config.json as the code before the shared names wrote
    them (``batch``, ``eval_every``, ``emb``, ``hidden``, ``layers``)."""
    older = {new: old for old, new in LEGACY_NAMES.items()}
    manifest = read_manifest(run)
    config = {older.get(k, k): v for k, v in manifest["config"].items()}
    assert {"batch", "eval_every", "emb", "hidden", "layers"} <= set(config)
    write_json(run / MANIFEST, with_digest({**{k: v for k, v in manifest.items()
                                               if k != "digest"}, "config": config}))
    write_json(run / "config.json", config)


@pytest.mark.slow
def test_a_run_saved_with_the_older_names_resumes_exactly(corpus_dir, tmp_path):
    cfg = LMConfig(model="pr_lstm", files=[str(corpus_dir)], val_fraction=0.34, steps=4,
                   batch_size=2, seq_len=16, val_every=2, ckpt_every=2, eval_windows=2,
                   embedding_size=8, hidden_size=8)
    train_lm(cfg, tmp_path / "old", progress=False, until=2)
    _with_older_names(tmp_path / "old")
    assert "batch" in read_manifest(tmp_path / "old")["config"]
    assert load_run(tmp_path / "old")[0] == cfg
    with pytest.raises(ValueError, match=r"another configuration .*'batch_size': \(2, 4\)"):
        train_lm(LMConfig(**{**asdict(cfg), "batch_size": 4}), tmp_path / "old", progress=False)
    a = train_lm(cfg, tmp_path / "old", progress=False)
    b = train_lm(cfg, tmp_path / "new", progress=False)
    clocks = ("cpu_s", "wall_s")
    assert {k: v for k, v in a.items() if k not in clocks} == \
        {k: v for k, v in b.items() if k not in clocks}
    assert a["finished"] and a["config"] == asdict(cfg)
    assert read_manifest(tmp_path / "old")["config"] == asdict(cfg)  # saved with the new names
    for p, q in zip(load_run(tmp_path / "old")[1].parameters(),
                    load_run(tmp_path / "new")[1].parameters(), strict=True):
        assert torch.equal(p, q)


def test_the_fixture_run_of_an_older_version_resumes(tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(DATA / "run", run)
    saved = read_json(run / "config.json")
    assert {"batch", "eval_every", "emb", "hidden", "layers"} <= set(saved)  # older names
    monkeypatch.chdir(tmp_path)  # the run's corpus is the relative directory "text"
    (tmp_path / "text").mkdir()
    for i in range(4):
        (tmp_path / "text" / f"f{i}.py").write_text(f"x = {i}\n" * 60)
    cfg = LMConfig.from_dict(saved)
    assert (cfg.batch_size, cfg.val_every, cfg.embedding_size, cfg.hidden_size,
            cfg.num_layers) == (2, 1, 8, 12, 2)
    summary = train_lm(cfg, run, progress=False)  # finished: resumed without a step
    assert (summary["steps"], summary["params"], summary["finished"]) == (2, 10440, True)
    assert summary["val_bpc"] == float(read_csv(DATA / "run" / "log.csv")[-1]["val_bpc"])
    other = LMConfig(**{**asdict(cfg), "num_layers": 1})  # compared under the new names
    with pytest.raises(ValueError, match=r"another configuration .*\{'num_layers': \(2, 1\)\}"):
        train_lm(other, run, progress=False)


def test_runs_of_an_older_version_are_reported(tmp_path, monkeypatch):
    from prlstm.lm.report import write_lm_report

    monkeypatch.chdir(tmp_path)
    (tmp_path / "text").mkdir()
    for i in range(4):
        (tmp_path / "text" / f"f{i}.py").write_text(f"x = {i}\n" * 60)
    finished, stopped = tmp_path / "finished", tmp_path / "stopped"
    shutil.copytree(DATA / "run", finished)
    shutil.copytree(DATA / "run", stopped)
    (stopped / "summary.json").unlink()  # rebuilt from its config.json (older names) and log
    out = write_lm_report([str(finished), str(stopped)], str(tmp_path / "rep"))
    table = (out / "table.md").read_text()
    assert "2 training steps each (of 2 planned), batch 2 x 8 bytes" in table
    assert table.count("| pr_lstm | 10,440 | 2 | 8.910 |") == 2


def test_a_saved_config_with_both_names_of_a_field_is_refused(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "run", run)
    manifest = read_manifest(run)
    config = {**manifest["config"], "batch_size": 3}
    write_json(run / MANIFEST, with_digest({**{k: v for k, v in manifest.items()
                                               if k != "digest"}, "config": config}))
    with pytest.raises(CheckpointError, match="both its older and its current name"):
        load_run(run)
