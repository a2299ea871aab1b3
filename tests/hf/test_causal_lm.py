"""prlstm.hf with the real transformers library: generate == hand loops of full forwards."""

import pytest
import torch

pytest.importorskip("transformers", minversion="5.24",
                    reason="prlstm.hf needs transformers>=5.24 (Python >= 3.11): the hf extra")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

import prlstm.hf as H  # noqa: E402
from prlstm.layer import PRLSTM  # noqa: E402
from tests.hf.helpers import PROMPTS, V, left_pad  # noqa: E402
from tests.hf.helpers import model as _model  # noqa: E402


def _hand_greedy(m, prompt, n):
    seq, logits = torch.tensor([prompt]), []
    for _ in range(n):
        last = m(seq, use_cache=False).logits[:, -1]  # a full parallel forward per token
        logits.append(last[0])
        seq = torch.cat([seq, last.argmax(-1)[:, None]], 1)
    return seq[0, len(prompt):].tolist(), logits


@pytest.mark.slow
@pytest.mark.parametrize("cell,R", [("lstm", 1), ("rnn", 2), ("gru", 0)])
def test_greedy_mixed_lengths_equals_hand_loop_per_row(cell, R):
    m = _model(cell, R)
    ids, mask = left_pad(PROMPTS)
    out = m.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False,
                     return_dict_in_generate=True, output_logits=True)
    T = ids.shape[1]
    for b, p in enumerate(PROMPTS):
        tokens, logits = _hand_greedy(m, p, 20)
        assert out.sequences[b, T:].tolist() == tokens
        for i, ref in enumerate(logits):
            torch.testing.assert_close(out.logits[i][b], ref.float(), atol=1e-5, rtol=0)
    first = out.logits[0]
    assert all((first[b] - first[0]).abs().max() > 1e-3 for b in range(1, len(PROMPTS)))
    no_cache = m.generate(ids, attention_mask=mask, max_new_tokens=20, do_sample=False,
                          use_cache=False)
    assert torch.equal(no_cache, out.sequences)


@pytest.mark.slow
def test_sampling_cache_equals_no_cache_and_is_seeded():
    m = _model()
    ids, mask = left_pad(PROMPTS)
    runs = []
    for use_cache in (True, False, True):
        torch.manual_seed(5)
        runs.append(m.generate(ids, attention_mask=mask, max_new_tokens=15, do_sample=True,
                               top_k=0, temperature=1.5, use_cache=use_cache))
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
    torch.manual_seed(6)
    other = m.generate(ids, attention_mask=mask, max_new_tokens=15, do_sample=True, top_k=0,
                       temperature=1.5)
    assert not torch.equal(other, runs[0])


def test_forward_logits_of_padded_batch_equal_rows_alone():
    m = _model()
    ids, mask = left_pad(PROMPTS)
    logits = m(ids, attention_mask=mask, use_cache=False).logits
    for b, p in enumerate(PROMPTS):
        alone = m(torch.tensor([p])).logits[0]
        torch.testing.assert_close(logits[b, -len(p):], alone, atol=1e-10, rtol=0)
    labels = ids.clone()
    out = m(ids, attention_mask=mask, labels=labels)
    assert out.loss is not None and torch.isfinite(out.loss)


def test_beam_search_reorders_the_cache():
    m = _model()
    ids, mask = left_pad(PROMPTS[:2])
    kw = {"max_new_tokens": 8, "num_beams": 3, "do_sample": False, "early_stopping": True}
    with_cache = m.generate(ids, attention_mask=mask, **kw)
    without = m.generate(ids, attention_mask=mask, use_cache=False, **kw)
    assert torch.equal(with_cache, without)


@pytest.mark.slow
@pytest.mark.parametrize("padded", [False, True])
def test_continuation_with_cache(padded):
    m = _model()
    prompts = PROMPTS if padded else [p[:1] + p[:2] for p in PROMPTS]  # equal lengths
    ids, mask = left_pad(prompts)
    full = m.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False)
    first = m.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=False,
                       return_dict_in_generate=True)
    assert first.cache.get_seq_length() == first.sequences.shape[1] - 1  # lags one token
    mask2 = torch.cat([mask, torch.ones(len(prompts), 5, dtype=torch.long)], 1)
    second = m.generate(first.sequences, attention_mask=mask2, cache=first.cache,
                        max_new_tokens=7, do_sample=False)
    assert torch.equal(second, full)
    # a user turn appended to the cached conversation: a multi-token chunk
    turn = torch.tensor([[4, 5, 6]] * len(prompts))
    seq = torch.cat([first.sequences, turn], 1)
    mask3 = torch.cat([mask2, torch.ones_like(turn)], 1)
    cont = m.generate(seq, attention_mask=mask3, cache=first.cache, max_new_tokens=6,
                      do_sample=False)
    fresh = m.generate(seq, attention_mask=mask3, max_new_tokens=6, do_sample=False)
    assert torch.equal(cont, fresh)


def test_save_load_round_trip_and_auto_classes(tmp_path):
    m = _model()
    m.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    cfg = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(cfg, H.PRLSTMConfig) and cfg.hidden_size == 12 and cfg.cell == "lstm"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float64).eval()
    assert isinstance(loaded, H.PRLSTMForCausalLM)
    for (n1, p1), (n2, p2) in zip(m.state_dict().items(), loaded.state_dict().items(),
                                  strict=True):
        assert n1 == n2 and torch.equal(p1, p2), n1
    ids, mask = left_pad(PROMPTS)
    kw = {"attention_mask": mask, "max_new_tokens": 6, "do_sample": False}
    assert torch.equal(m.generate(ids, **kw), loaded.generate(ids, **kw))
    fresh = AutoModelForCausalLM.from_config(H.PRLSTMConfig(vocab_size=V, hidden_size=8))
    assert isinstance(fresh, H.PRLSTMForCausalLM)


def test_tied_embeddings_and_own_initialisation():
    torch.manual_seed(1)
    cfg = H.PRLSTMConfig(vocab_size=V, hidden_size=8, num_layers=1)
    m = H.PRLSTMForCausalLM(cfg)
    assert m.lm_head.weight is m.model.embed.weight
    # The PR layer keeps PyTorch's default init: rebuild the same modules in the same order.
    torch.manual_seed(1)
    torch.nn.Embedding(V, 8)
    layer = PRLSTM(8, 8, num_layers=1)
    for p, q in zip(m.model.layer.parameters(), layer.parameters(), strict=True):
        assert torch.equal(p, q)
    untied = H.PRLSTMForCausalLM(H.PRLSTMConfig(vocab_size=V, hidden_size=8, embedding_size=6,
                                                tie_word_embeddings=False))
    assert untied.lm_head.weight is not untied.model.embed.weight
    assert untied.lm_head.weight.shape == (V, 6)


def test_errors():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['hidden_sise'\]"):
        H.PRLSTMConfig(hidden_sise=3)
    with pytest.raises(ValueError, match="cell must be one of"):
        H.PRLSTMConfig(cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        H.PRLSTMConfig(hidden_size=0)
    with pytest.raises(ValueError, match=r"pad_token_id must be None or an id in \[0, "):
        H.PRLSTMConfig(vocab_size=5, pad_token_id=5)
    m = _model()
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=23\), got "
                                         r"values in \[0, 23\]"):
        m(torch.tensor([[0, 23]]))
    with pytest.raises(ValueError, match="input_ids must be integer ids"):
        m(torch.zeros(1, 3))
    ids, mask = left_pad(PROMPTS)
    right = mask.flip(1)
    with pytest.raises(ValueError, match="right padding"):
        m(ids.flip(1), attention_mask=right)
    with pytest.raises(ValueError, match="right padding"):
        m.generate(ids.flip(1), attention_mask=right, max_new_tokens=2)
    with pytest.raises(ValueError, match="assisted generation is not supported"):
        m.generate(ids[:1, -3:], assistant_model=_model(), max_new_tokens=2)
    with pytest.raises(TypeError, match="cache must be a PRLSTMCache"):
        m(ids, cache=("not", "a cache"))


def test_wrong_transformers_version_is_refused(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.23.0")
    with pytest.raises(ImportError, match=r"transformers>=5.24,<6 .* found 5.23.0"):
        H._check_version()
    monkeypatch.setattr(transformers, "__version__", "6.0.0")
    with pytest.raises(ImportError, match="found 6.0.0"):
        H._check_version()


@pytest.mark.slow
def test_import_prlstm_does_not_import_transformers():
    import subprocess
    import sys

    code = "import sys, prlstm; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
