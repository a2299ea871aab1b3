"""The char-LM demo: split by file, exact resume, exact generation, CLI, report."""

import pytest
import torch

from prlstm.cli import main
from prlstm.lm.data import expand_files, load_corpus, sample_batch
from prlstm.lm.models import MODELS, CharLM
from prlstm.lm.train import LMConfig, load_run, train_lm


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


@pytest.mark.parametrize("kind", MODELS)
def test_greedy_generation_equals_full_forwards(kind):
    torch.manual_seed(0)
    m = CharLM(kind, emb=16, hidden=16 if kind != "transformer" else 0, layers=1, ff=32,
               max_len=64).double().eval()
    with torch.no_grad():
        m.head.weight.mul_(10)
    prompt = torch.randint(0, 256, (2, 5))
    out = m.generate(prompt, 12, temperature=0)
    seq = prompt
    for _ in range(12):
        seq = torch.cat([seq, m(seq)[:, -1].argmax(-1)[:, None]], 1)
    assert torch.equal(out, seq[:, 5:])


def test_resume_is_exact(corpus_dir, tmp_path):
    cfg = LMConfig(model="pr_lstm", files=[str(corpus_dir)], val_fraction=0.34, steps=6,
                   batch=2, seq_len=16, eval_every=2, ckpt_every=2, eval_windows=2,
                   emb=8, hidden=8)
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


def test_cli_train_generate_report(corpus_dir, tmp_path, capsys):
    runs = []
    for model in ("pr_lstm", "lstm"):
        run = tmp_path / model
        runs.append(str(run))
        assert main(["lm", "train", "--model", model, "--out", str(run), "--files",
                     str(corpus_dir), "--val-fraction", "0.34", "--steps", "4", "--batch", "2",
                     "--seq-len", "16", "--eval-every", "2", "--emb", "8", "--hidden", "8",
                     "--quiet"]) == 0
    capsys.readouterr()
    assert main(["lm", "generate", "--run", runs[0], "--prompt", "def ", "--length", "10"]) == 0
    assert capsys.readouterr().out.startswith("def ")
    assert main(["lm", "report", *runs, "--out", str(tmp_path / "rep")]) == 0
    table = (tmp_path / "rep" / "table.md").read_text()
    assert "| pr_lstm |" in table and "| lstm |" in table and "4 training steps each" in table
    assert main(["lm", "report", *runs, "--out", str(tmp_path / "rep"), "--at-step", "3"]) == 2
    assert main(["lm", "generate", "--run", str(tmp_path / "none")]) == 2
