"""PR-LSTM with the tools Hugging Face users run: Trainer, save / reload in a fresh process
(auto_map + trust_remote_code), the lm-evaluation-harness CLI, and docs/hf.md's examples."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", minversion="5.24",
                    reason="prlstm.hf needs transformers>=5.24 (Python >= 3.11): the hf extra")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

import prlstm.hf as H  # noqa: E402
from prlstm.hf import remote_code  # noqa: E402
from tests.hf.helpers import char_tokenizer, left_pad, model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["hello there", "abc", "the cat sat on a mat", "a b", "pr-lstm, a tree!"]


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """A child process environment: offline, with its own HF caches under ``tmp_path``."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HOME=str(tmp_path / "hf_home"), HF_DATASETS_CACHE=str(tmp_path / "ds"),
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env["PYTHONPATH"]]) if env.get("PYTHONPATH") \
        else src
    return env


# ---------------------------------------------------------------------------------- Trainer
@pytest.mark.slow
def test_trainer_gradient_accumulation_matches_a_manual_computation(tmp_path):
    from transformers import (
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = char_tokenizer()
    tok.padding_side = "left"  # PR-LSTM needs left padding, in training too
    data = [{"input_ids": tok(t).input_ids} for t in TEXTS[:4]]  # lengths 11, 3, 20, 3
    collate = DataCollatorForLanguageModeling(tok, mlm=False)
    batches = []

    def recording_collate(features):
        batch = collate(features)
        batches.append({k: v.clone() for k, v in batch.items()})
        return batch

    torch.manual_seed(0)
    cfg = H.PRLSTMConfig(vocab_size=len(tok), hidden_size=16, num_layers=2,
                         pad_token_id=tok.pad_token_id, initializer_range=0.5)
    m = H.PRLSTMForCausalLM(cfg)
    ref = H.PRLSTMForCausalLM(cfg)
    ref.load_state_dict(m.state_dict())
    logged, grads = [], {}

    class Spy(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logged.append(dict(logs))

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            if not grads:  # step 1, after clipping
                grads.update({n: p.grad.clone() for n, p in m.named_parameters()})

    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True,
                             per_device_train_batch_size=2, gradient_accumulation_steps=2,
                             max_steps=2, logging_steps=1, save_strategy="no",
                             disable_tqdm=True)
    trainer = Trainer(model=m, args=args, train_dataset=data, data_collator=recording_collate,
                      callbacks=[Spy()])
    assert trainer.model_accepts_loss_kwargs
    trainer.train()
    steps = [log for log in logged if "loss" in log]
    assert len(steps) == 2

    # by hand: step 1 = the two micro-batches the Trainer drew; the loss is the sum of their
    # token losses over the tokens of both (transformers counts labels[..., 1:] != -100)
    micro = batches[:2]
    n_items = sum(int((b["labels"][:, 1:] != -100).sum()) for b in micro)
    sums = [ref(**b, num_items_in_batch=1).loss for b in micro]
    total = sum(sums) / n_items
    total.backward()
    want = float(total.detach())
    norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)  # Trainer's default clip
    assert steps[0]["loss"] == pytest.approx(want, rel=1e-5)
    assert steps[0]["grad_norm"] == pytest.approx(float(norm), rel=1e-4)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-7, msg=name)
    with torch.no_grad():  # a mean of the micro-batch means would differ: the test can tell
        means = [ref(**b).loss for b in micro]
    assert abs(float(sum(means) / 2 - want)) > 1e-3

    metrics = trainer.evaluate(eval_dataset=data)  # the cache is kept out of predictions
    m.eval()
    with torch.no_grad():
        assert metrics["eval_loss"] == pytest.approx(float(m(**collate(data)).loss), rel=1e-5)


# --------------------------------------------------------------------- save / auto_map / load
def test_save_writes_auto_map_files_and_reloads_identically(tmp_path):
    m = model().float()
    m.save_pretrained(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["config.json", "configuration_prlstm.py", "generation_config.json",
                     "model.safetensors", "modeling_prlstm.py"]
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"] == remote_code.AUTO_MAP
    for name, source in remote_code.remote_code_files().items():
        assert (tmp_path / name).read_text() == source
        compile(source, name, "exec")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is H.PRLSTMForCausalLM and loaded.dtype == torch.float32
    ids, mask = left_pad([[3, 4, 5, 6], [7, 8]])
    torch.testing.assert_close(loaded(ids, attention_mask=mask).logits,
                               m(ids, attention_mask=mask).logits, rtol=0, atol=0)
    assert "auto_map" not in loaded.config.__dict__  # serialised, not an attribute


@pytest.mark.slow
def test_fresh_process_loads_with_trust_remote_code(tmp_path):
    m = model().float()
    ckpt, again = tmp_path / "ckpt", tmp_path / "again"
    m.save_pretrained(ckpt)
    ids, mask = left_pad([[3, 4, 5, 6], [7, 8]])
    torch.save({"ids": ids, "mask": mask}, tmp_path / "inputs.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModelForCausalLM
        assert "prlstm.hf" not in sys.modules
        try:
            AutoModelForCausalLM.from_pretrained({str(ckpt)!r})
        except ValueError as err:
            print("REFUSED:", err)
        assert "prlstm.hf" not in sys.modules
        m = AutoModelForCausalLM.from_pretrained({str(ckpt)!r}, trust_remote_code=True).eval()
        print("CLASS:", type(m).__module__, type(m).__name__)
        x = torch.load({str(tmp_path / "inputs.pt")!r})
        with torch.no_grad():
            out = m(x["ids"], attention_mask=x["mask"]).logits
            gen = m.generate(x["ids"], attention_mask=x["mask"], max_new_tokens=5,
                             do_sample=False)
        torch.save({{"logits": out, "gen": gen}}, {str(tmp_path / "out.pt")!r})
        m.save_pretrained({str(again)!r})
    """)
    run = subprocess.run([sys.executable, "-c", script], env=_offline_env(tmp_path),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    refused = re.search(r"REFUSED: (.*)", run.stdout, re.S)
    assert refused and "trust_remote_code=True" in refused.group(1)
    assert "CLASS: prlstm.hf.modeling PRLSTMForCausalLM" in run.stdout
    got = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        torch.testing.assert_close(got["logits"], m(ids, attention_mask=mask).logits,
                                   rtol=0, atol=1e-6)
        ref = m.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=False)
    assert torch.equal(got["gen"], ref)
    # re-saving a remote-loaded model writes the same small files, never a copy of prlstm
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in ckpt.iterdir())
    assert json.loads((again / "config.json").read_text())["auto_map"] == remote_code.AUTO_MAP


def test_auto_map_own_accepted_foreign_refused(tmp_path):
    cfg = H.PRLSTMConfig(vocab_size=9, hidden_size=4)
    d = cfg.to_dict()
    assert H.PRLSTMConfig.from_dict(d).hidden_size == 4
    hub = {k: f"someone/prlstm-tiny--{v}" for k, v in remote_code.AUTO_MAP.items()}
    assert H.PRLSTMConfig.from_dict({**d, "auto_map": hub}).vocab_size == 9
    for bad in ({"AutoConfig": "evil.Config"},
                {**remote_code.AUTO_MAP, "AutoModel": "modeling_prlstm.PRLSTMForCausalLM"},
                {"AutoModelForCausalLM": "someone/x--modeling_other.PRLSTMForCausalLM"}):
        with pytest.raises(ValueError, match="refuses an auto_map"):
            H.PRLSTMConfig.from_dict({**d, "auto_map": bad})
    cfg.save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw["auto_map"]["AutoConfig"] = "configuration_evil.EvilConfig"
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="refuses an auto_map"):
        AutoConfig.from_pretrained(tmp_path)


def test_remote_code_file_names_the_fix_when_prlstm_is_missing(tmp_path, monkeypatch):
    import runpy

    path = remote_code.write_remote_code(tmp_path)[0]
    for name in [n for n in sys.modules if n == "prlstm" or n.startswith("prlstm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prlstm", None)  # "not installed"
    with pytest.raises(ImportError, match=r"pip install 'prlstm\[hf\]'"):
        runpy.run_path(str(path))


# ----------------------------------------------------------------------------- lm-eval CLI
_MC = """task: prlstm_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
"""
_GEN = """task: prlstm_tiny_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{choices[answer]}}}}"
generation_kwargs:
  until: ["."]
  do_sample: false
  max_gen_toks: 8
metric_list:
  - metric: exact_match
"""
_DOCS = [{"question": "the cat sat on the", "choices": ["mat", "dog", "hat"], "answer": 0},
         {"question": "a b c", "choices": ["d", "e"], "answer": 1},
         {"question": "hello", "choices": ["world", "there", "you", "me"], "answer": 2},
         {"question": "pr-lstm is a", "choices": ["tree", "list"], "answer": 0}]


def _samples(out: Path, task: str) -> list[dict]:
    files = sorted(out.rglob(f"samples_{task}_*.jsonl"))
    assert files, f"lm_eval wrote no samples for {task} under {out}"
    rows = [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["doc_id"])


@pytest.mark.slow
def test_lm_eval_cli_scores_what_the_model_computes(tmp_path):
    pytest.importorskip("lm_eval", reason="the lm-evaluation-harness (pip install lm-eval) "
                        "is not installed")
    ckpt, tasks, out = tmp_path / "ckpt", tmp_path / "tasks", tmp_path / "out"
    tok = char_tokenizer(ckpt)
    m = model(vocab_size=len(tok), eos_token_id=tok.eos_token_id).float()
    m.save_pretrained(ckpt)
    tasks.mkdir()
    data = tasks / "data.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in _DOCS))
    (tasks / "mc.yaml").write_text(_MC.format(data=data))
    (tasks / "gen.yaml").write_text(_GEN.format(data=data))
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
           f"pretrained={ckpt},trust_remote_code=True,dtype=float32", "--tasks",
           "prlstm_tiny_mc,prlstm_tiny_gen", "--include_path", str(tasks), "--device", "cpu",
           "--batch_size", "2", "--output_path", str(out), "--log_samples"]
    run = subprocess.run(cmd, env=_offline_env(tmp_path), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    def loglikelihood(context: str, continuation: str) -> float:
        ctx, ids = tok(context).input_ids, tok(context + continuation).input_ids
        with torch.no_grad():
            logp = m(torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
        return sum(float(logp[i - 1, ids[i]]) for i in range(len(ctx), len(ids)))

    mc = _samples(out, "prlstm_tiny_mc")
    assert len(mc) == len(_DOCS)
    for row, doc in zip(mc, _DOCS, strict=True):
        got = [float(r[0]) for r in row["filtered_resps"]]
        want = [loglikelihood(doc["question"], " " + c) for c in doc["choices"]]
        assert got == pytest.approx(want, abs=1e-4)
    assert len({round(float(r[0]), 3) for row in mc for r in row["filtered_resps"]}) > 5

    gen = _samples(out, "prlstm_tiny_gen")
    for row, doc in zip(gen, _DOCS, strict=True):
        ids = torch.tensor([tok(doc["question"]).input_ids])
        with torch.no_grad():
            new = m.generate(ids, max_new_tokens=8, do_sample=False,
                             pad_token_id=tok.pad_token_id)[0, ids.shape[1]:]
        want = tok.decode(new, skip_special_tokens=True).split(".")[0]
        assert row["filtered_resps"][0] == want


# ------------------------------------------------------------------------------- docs/hf.md
def _python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line, code)`` of each fenced python block not preceded by a docs-test skip mark."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            skip = i > 0 and lines[i - 1].strip() == "<!-- docs-test: skip -->"
            end = lines.index("```", i + 1)
            if not skip:
                blocks.append((i + 1, "\n".join(lines[i + 1:end])))
            i = end
        i += 1
    return blocks


@pytest.mark.slow
def test_docs_hf_md_python_blocks_run(tmp_path, monkeypatch):
    doc = ROOT / "docs" / "hf.md"
    blocks = _python_blocks(doc)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code in blocks:  # one namespace: later blocks continue earlier ones
        torch.manual_seed(0)
        exec(compile(code, f"docs/hf.md:{line}", "exec"), namespace)


def test_generate_checks_the_mask_shape_and_values() -> None:
    from tests.hf import helpers

    model = helpers.model().eval()
    ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match=r"attention_mask must have the shape of input_ids "
                                         r"\(2, 5\), got \(2, 4\)"):
        model.generate(ids, attention_mask=torch.ones(2, 4, dtype=torch.long),
                       max_new_tokens=2)
    with pytest.raises(ValueError, match="attention_mask must hold only 0 and 1"):
        model.generate(ids, attention_mask=torch.full((2, 5), 0.5), max_new_tokens=2)
    with pytest.raises(ValueError, match="attention_mask must hold only 0 and 1"):
        model(ids, attention_mask=torch.full((2, 5), 0.5))
