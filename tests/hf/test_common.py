"""transformers' common model / generation behaviours (those MambaForCausalLM passes), written
for PR-LSTM: hidden states, retained grads, kwargs forwarding, inputs_embeds, continuation,
loss kwargs, config flags, torch.compile, and every generate option prlstm refuses."""

import functools

import pytest
import torch

pytest.importorskip("transformers", minversion="5.24",
                    reason="prlstm.hf needs transformers>=5.24 (Python >= 3.11): the hf extra")
from transformers import DynamicCache, GenerationConfig  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

import prlstm.hf as H  # noqa: E402
from prlstm.layer import PRLSTM  # noqa: E402
from tests.hf.helpers import PROMPTS, V, left_pad, model  # noqa: E402


# ------------------------------------------------------------------------------ hidden states
def test_hidden_states_are_embeddings_layer_outputs_and_final_norm():
    m = model(num_layers=3)
    ids = torch.tensor([[3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3]])
    out = m(ids, output_hidden_states=True)
    hs = out.hidden_states
    assert len(hs) == m.config.num_layers + 1
    assert all(h.shape == (2, 7, 12) for h in hs)
    torch.testing.assert_close(hs[0], m.model.embed(ids), rtol=0, atol=0)
    # layer 1 alone: a one-layer PRLSTM holding layer 1's weights
    one = PRLSTM(12, 12, num_layers=1).double()
    one.layers[0].load_state_dict(m.model.layer.layers[0].state_dict())
    torch.testing.assert_close(hs[1], one(hs[0])[0], rtol=0, atol=1e-12)
    # the last: the stacked layer's output after the final norm, which the head reads
    stacked = m.model.layer(m.model.embed(ids))[0]
    torch.testing.assert_close(hs[-1], m.model.norm(stacked), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.logits, m.lm_head(hs[-1]), rtol=0, atol=1e-12)
    assert m(ids).hidden_states is None


def test_hidden_states_of_a_padded_row_equal_the_row_alone():
    m = model(num_layers=3)
    ids, mask = left_pad(PROMPTS)
    hs = m(ids, attention_mask=mask, output_hidden_states=True).hidden_states
    for b, p in enumerate(PROMPTS):
        alone = m(torch.tensor([p]), output_hidden_states=True).hidden_states
        for h, a in zip(hs, alone, strict=True):
            torch.testing.assert_close(h[b, -len(p):], a[0], rtol=0, atol=1e-10)


def test_config_output_hidden_states_and_return_dict_are_honoured():
    m = model()
    ids = torch.tensor([[3, 4, 5]])
    labels = torch.tensor([[4, 5, 6]])
    m.config.output_hidden_states = True
    assert len(m(ids).hidden_states) == 3
    assert m(ids, output_hidden_states=False).hidden_states is None
    d = m(ids, labels=labels)
    m.config.return_dict = False
    t = m(ids, labels=labels)
    assert isinstance(t, tuple) and len(t) == 4  # loss, logits, cache, hidden_states
    for a, b in zip(t[:2], (d.loss, d.logits), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert t[2].get_seq_length() == 3 and len(t[3]) == 3
    assert isinstance(m(ids, return_dict=True), H.modeling.PRLSTMCausalLMOutput)
    assert len(m(ids, use_cache=False, output_hidden_states=False)) == 1  # logits only


def test_retained_grads_on_hidden_states():
    m = model(num_layers=3).train()
    ids, mask = left_pad(PROMPTS[:2])
    for kw in ({}, {"attention_mask": mask}):
        out = m(ids, output_hidden_states=True, **kw)
        assert out.cache is None  # training mode: no cache by default
        hs = out.hidden_states
        keep = (hs[0], hs[-1]) if kw else hs  # padded: layers 1..N-1 are shifted copies
        for h in keep:
            h.retain_grad()
        out.logits[:, -1].sum().backward()
        assert all(h.grad is not None for h in keep)
        m.zero_grad()


def test_generate_returns_every_steps_hidden_states():
    m = model(num_layers=3)
    ids, mask = left_pad(PROMPTS[:2])
    out = m.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False,
                     return_dict_in_generate=True, output_hidden_states=True)
    T = ids.shape[1]
    assert len(out.hidden_states) == 4
    for k, step in enumerate(out.hidden_states):
        assert len(step) == 4 and all(h.shape == (2, T if k == 0 else 1, 12) for h in step)
        seq, full_mask = out.sequences[:, :T + k], torch.ones(2, T + k, dtype=torch.long)
        full_mask[:, :T] = mask
        ref = m(seq, attention_mask=full_mask, output_hidden_states=True).hidden_states
        for h, r in zip(step, ref, strict=True):
            torch.testing.assert_close(h[:, -1], r[:, -1], rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------------ kwargs
def test_prepare_inputs_for_generation_forwards_kwargs_and_needs_no_iteration_flag():
    m = model()
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    inputs = m.prepare_inputs_for_generation(ids, use_cache=False, foo="bar", labels=ids)
    assert inputs["foo"] == "bar" and "labels" not in inputs and inputs["use_cache"] is False
    inputs = m.prepare_inputs_for_generation(ids)  # no is_first_iteration, no cache: prefill
    assert torch.equal(inputs["input_ids"], ids) and inputs["cache"] is None
    cache = m(ids[:, :2]).cache
    inputs = m.prepare_inputs_for_generation(ids, cache=cache, output_hidden_states=True)
    assert torch.equal(inputs["input_ids"], ids[:, 2:]) and inputs["output_hidden_states"]
    inputs = m.prepare_inputs_for_generation(ids, next_sequence_length=1, cache=cache)
    assert torch.equal(inputs["input_ids"], ids[:, 2:])
    with pytest.raises(ValueError, match="has already consumed 2 columns"):
        m.prepare_inputs_for_generation(ids[:, :2], cache=cache)


def test_generate_forwards_model_kwargs_to_forward(monkeypatch):
    m = model()
    seen = []
    forward = m.forward

    @functools.wraps(forward)
    def spy(*args, **kwargs):
        seen.append(kwargs.get("output_hidden_states"))
        return forward(*args, **kwargs)

    monkeypatch.setattr(m, "forward", spy)
    m.generate(torch.tensor([[3, 4]]), max_new_tokens=3, do_sample=False,
               output_hidden_states=True, return_dict_in_generate=True)
    assert seen == [True, True, True]


def test_loss_kwargs_normalise_by_num_items_in_batch():
    m = model()
    ids, mask = left_pad(PROMPTS)
    labels = ids.masked_fill(mask == 0, -100)
    logits = m(ids, attention_mask=mask).logits
    targets = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, V),
                                           targets.reshape(-1), reduction="sum")
    n = int((targets != -100).sum())
    mean = m(ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(mean, ce / n)
    summed = m(ids, attention_mask=mask, labels=labels, num_items_in_batch=torch.tensor(100))
    torch.testing.assert_close(summed.loss, ce / 100)
    torch.testing.assert_close(m(ids, attention_mask=mask, labels=labels, num_items_in_batch=7,
                                 logits_to_keep=1).loss, ce / 7)


def test_forward_kwargs_accepted_or_refused():
    m = model()
    ids, mask = left_pad(PROMPTS[:2])
    ref = m(ids, attention_mask=mask).logits
    pos = (mask.cumsum(1) - 1).masked_fill(mask == 0, 1)  # what transformers would build
    out = m(ids, attention_mask=mask, position_ids=pos, output_attentions=False, is_causal=True)
    torch.testing.assert_close(out.logits, ref, rtol=0, atol=0)
    packed = torch.tensor([[0, 1, 2, 0, 1, 2]])
    with pytest.raises(ValueError, match="position_ids restart"):
        m(torch.tensor([[3, 4, 5, 6, 7, 8]]), position_ids=packed)
    with pytest.raises(ValueError, match="packed"):
        m(ids, cu_seq_lens_q=torch.tensor([0, 3, 6]))
    with pytest.raises(ValueError, match="no attention weights"):
        m(ids, output_attentions=True)
    with pytest.raises(TypeError, match=r"unexpected arguments \['foo'\]"):
        m(ids, foo=1)
    with pytest.raises(ValueError, match="inputs_embeds must be floats of shape"):
        m(inputs_embeds=torch.zeros(1, 3, 5, dtype=torch.float64))


# ----------------------------------------------------------------------------- inputs_embeds
def _hand_greedy_embeds(m, embeds, mask, n):
    """Greedy tokens by full forwards over [prompt embeddings, embedded generated tokens]."""
    tokens = torch.zeros(embeds.shape[0], 0, dtype=torch.long)
    for _ in range(n):
        x = torch.cat([embeds, m.model.embed(tokens)], 1)
        full = torch.cat([mask, torch.ones_like(tokens)], 1)
        nxt = m(inputs_embeds=x, attention_mask=full, use_cache=False).logits[:, -1].argmax(-1)
        tokens = torch.cat([tokens, nxt[:, None]], 1)
    return tokens


def test_generate_from_inputs_embeds():
    m = model()
    ids, mask = left_pad(PROMPTS)
    with torch.no_grad():
        embeds = m.model.embed(ids)
    from_ids = m.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False)
    from_embeds = m.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=8,
                             do_sample=False)
    assert torch.equal(from_embeds, from_ids[:, ids.shape[1]:])  # only the new tokens
    both = m.generate(ids, inputs_embeds=embeds, attention_mask=mask, max_new_tokens=8,
                      do_sample=False)
    assert torch.equal(both, from_ids)
    # embeddings no token has: generate == hand loop of full forwards
    g = torch.Generator().manual_seed(3)
    soft = torch.randn(embeds.shape, generator=g, dtype=torch.float64)
    out = m.generate(inputs_embeds=soft, attention_mask=mask, max_new_tokens=5, do_sample=False)
    assert torch.equal(out, _hand_greedy_embeds(m, soft, mask, 5))
    assert len(set(map(tuple, out.tolist()))) > 1


def test_generate_continues_from_inputs_embeds_and_cache():
    m = model()
    g = torch.Generator().manual_seed(4)
    embeds = torch.randn(2, 5, 12, generator=g, dtype=torch.float64)
    full = m.generate(inputs_embeds=embeds, max_new_tokens=6, do_sample=False,
                      return_dict_in_generate=True)
    first = m.generate(inputs_embeds=embeds, max_new_tokens=4, do_sample=False,
                       return_dict_in_generate=True)
    assert first.cache.get_seq_length() == 5 + 3  # the last token is not fed yet
    with torch.no_grad():
        more = torch.cat([embeds, m.model.embed(first.sequences)], 1)
    rest = m.generate(inputs_embeds=more, cache=first.cache, max_new_tokens=2, do_sample=False)
    assert torch.equal(torch.cat([first.sequences, rest], 1), full.sequences)


def test_generate_continues_from_cache_given_only_the_new_tokens():
    m = model()
    ids, mask = left_pad(PROMPTS)
    full = m.generate(ids, attention_mask=mask, max_new_tokens=9, do_sample=False)
    first = m.generate(ids, attention_mask=mask, max_new_tokens=4, do_sample=False,
                       return_dict_in_generate=True)
    new = first.sequences[:, -1:]  # the one token the cache has not consumed
    mask2 = torch.cat([mask, torch.ones(len(PROMPTS), 4, dtype=torch.long)], 1)
    rest = m.generate(new, attention_mask=mask2, cache=first.cache, max_new_tokens=5,
                      do_sample=False)
    assert torch.equal(rest[:, 1:], full[:, -5:])


# -------------------------------------------------------------------- other supported modes
def test_classifier_free_guidance_equals_hand_loop():
    m = model()
    ids = torch.tensor([[3, 4, 5, 6]])
    neg = torch.tensor([[9, 10]])
    out = m.generate(ids, negative_prompt_ids=neg, guidance_scale=1.5, max_new_tokens=5,
                     do_sample=False)
    seq, uncond = ids, neg
    for _ in range(5):
        c = m(seq).logits[:, -1].float().log_softmax(-1)
        u = m(uncond).logits[:, -1].log_softmax(-1)
        nxt = (1.5 * (c - u) + u).argmax(-1, keepdim=True)
        seq, uncond = torch.cat([seq, nxt], 1), torch.cat([uncond, nxt], 1)
    assert torch.equal(out, seq)


class _Collect(BaseStreamer):
    def __init__(self):
        self.chunks = []

    def put(self, value):
        self.chunks.append(value.clone())

    def end(self):
        self.chunks.append(None)


def test_streamer_and_num_return_sequences():
    m = model()
    streamer = _Collect()
    ids = torch.tensor([[3, 4, 5]])
    out = m.generate(ids, max_new_tokens=5, do_sample=False, streamer=streamer)
    assert streamer.chunks[-1] is None
    assert torch.cat([c.reshape(1, -1) for c in streamer.chunks[:-1]], 1).tolist() \
        == out.tolist()
    ids, mask = left_pad(PROMPTS[:2])
    runs = []
    for use_cache in (True, False):
        torch.manual_seed(1)
        runs.append(m.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=True,
                               num_return_sequences=3, use_cache=use_cache, top_k=0))
    assert runs[0].shape == (6, ids.shape[1] + 6) and torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("kwargs", [
    {"num_beams": 3, "do_sample": True, "top_k": 0, "temperature": 1.5},  # beam sampling
    {"do_sample": False, "repetition_penalty": 1.5, "no_repeat_ngram_size": 2},
    {"do_sample": True, "top_p": 0.8, "temperature": 2.0, "eos_token_id": 9},  # stops early
], ids=["beam_sample", "processors", "warpers_eos"])
def test_other_modes_with_cache_equal_use_cache_false(kwargs):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopAfter(StoppingCriteria):  # a user stopping criterion: 7 new tokens per row
        def __call__(self, input_ids, scores, **kw):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= T + 7)

    m = model()
    ids, mask = left_pad(PROMPTS)
    T = ids.shape[1]
    runs = []
    for use_cache in (True, False):
        torch.manual_seed(2)
        runs.append(m.generate(ids, attention_mask=mask, max_new_tokens=10, use_cache=use_cache,
                               stopping_criteria=StoppingCriteriaList([StopAfter()]),
                               return_dict_in_generate=True, output_scores=True, **kwargs))
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    assert runs[0].sequences.shape[1] <= T + 7
    for a, b in zip(runs[0].scores, runs[1].scores, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------- refusals
class _Draft:  # a stand-in object: refused before transformers looks at it
    pass


REFUSED = {
    "assistant_model": ({"assistant_model": "MODEL"}, "assisted generation"),
    "assistant_tokenizer": ({"assistant_tokenizer": _Draft()}, "assisted generation"),
    "prompt_lookup": ({"prompt_lookup_num_tokens": 3}, "assisted generation"),
    "early_exit": ({"assistant_early_exit": 1}, "assisted generation"),
    "mtp": ({"use_mtp": True}, "assisted generation"),
    "dola": ({"dola_layers": "high"}, "DoLa decoding"),
    "contrastive": ({"penalty_alpha": 0.6, "top_k": 4}, "contrastive search"),
    "group_beams": ({"num_beams": 2, "num_beam_groups": 2, "diversity_penalty": 1.0},
                    "group / diverse beam search"),
    "force_words": ({"num_beams": 2, "force_words_ids": [[5]]}, "constrained beam search"),
    "constraints": ({"num_beams": 2, "constraints": [_Draft()]}, "constrained beam search"),
    "custom_generate_repo": ({"custom_generate": "transformers-community/dola"},
                             "custom_generate"),
    "custom_generate_callable": ({"custom_generate": lambda *a, **k: None}, "custom_generate"),
    "static_cache": ({"cache_implementation": "static"}, "cache_implementation"),
    "offloaded_cache": ({"cache_implementation": "offloaded"}, "cache_implementation"),
    "quantized_cache": ({"cache_implementation": "quantized"}, "cache_implementation"),
    "paged_cache": ({"cache_implementation": "paged"}, "cache_implementation"),
    "chunked_prefill": ({"prefill_chunk_size": 2}, "chunked prefill"),
    "past_key_values": ({"past_key_values": "DYNAMIC"}, "past_key_values"),
    "kv_cache": ({"cache": "DYNAMIC"}, "a cache that is not a PRLSTMCache"),
    "cache_with_beams": ({"cache": "PRLSTM", "num_beams": 2}, "continuing a cache with"),
    "cache_with_returns": ({"cache": "PRLSTM", "num_return_sequences": 2, "do_sample": True},
                           "continuing a cache with"),
    "output_attentions": ({"output_attentions": True, "return_dict_in_generate": True},
                          "output_attentions=True"),
    "right_padding": ({"attention_mask": "RIGHT"}, "right padding"),
    "config_object": ({"generation_config": GenerationConfig(prompt_lookup_num_tokens=2)},
                      "assisted generation"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_generate_refuses_with_its_own_message(case):
    m = model()
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    kwargs, what = REFUSED[case]
    stand_ins = {"MODEL": model(seed=1), "DYNAMIC": DynamicCache(),
                 "PRLSTM": m(ids).cache, "RIGHT": torch.tensor([[1, 1, 0], [1, 1, 1]])}
    kwargs = {k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=rf"^PRLSTMForCausalLM\.generate: {what}"):
        m.generate(ids, max_new_tokens=3, **kwargs)


def test_generate_refuses_what_the_models_generation_config_asks_for():
    m = model()
    m.generation_config.prompt_lookup_num_tokens = 3
    with pytest.raises(ValueError, match="assisted generation is not supported"):
        m.generate(torch.tensor([[3, 4, 5]]), max_new_tokens=2)


def test_refuses_to_be_another_models_assistant():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    main = GPT2LMHeadModel(GPT2Config(vocab_size=V, n_embd=8, n_layer=1, n_head=2,
                                      n_positions=32)).eval()
    with pytest.raises(ValueError, match="assisted generation is not supported .*assistant"):
        main.generate(torch.tensor([[3, 4, 5]]), assistant_model=model().float(),
                      max_new_tokens=3, do_sample=False)


def test_continuous_batching_is_refused():
    m = model()
    with pytest.raises(ValueError, match="continuous batching is not supported"):
        m.generate_batch([[3, 4, 5]])
    with pytest.raises(ValueError, match="continuous batching is not supported"):
        m.init_continuous_batching()


# ---------------------------------------------------------------------------- torch.compile
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "left-padded-mask"])
def test_compiled_forward_equals_eager(padded):
    torch.manual_seed(0)
    cfg = H.PRLSTMConfig(vocab_size=V, hidden_size=8, num_layers=2, use_cache=False)
    m = H.PRLSTMForCausalLM(cfg).eval()
    ids = torch.randint(0, V, (3, 8))
    mask = None
    if padded:  # rows of 8, 5 and 1 tokens
        mask = (torch.arange(8)[None, :] >= torch.tensor([[0], [3], [7]])).long()
    torch._dynamo.reset()
    compiled = torch.compile(m.forward, fullgraph=True)
    with torch.no_grad():
        out = compiled(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        ref = m(ids, attention_mask=mask, output_hidden_states=True)
    torch.testing.assert_close(out.logits, ref.logits, rtol=1e-5, atol=1e-5)
    for a, b in zip(out.hidden_states, ref.hidden_states, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if padded:  # and the padded rows are still their rows alone
        with torch.no_grad():
            alone = m(ids[2:, 7:]).logits
        torch.testing.assert_close(out.logits[2:, 7:], alone, rtol=1e-5, atol=1e-5)
