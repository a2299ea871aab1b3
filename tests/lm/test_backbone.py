"""The shared LM backbone (prlstm.lm.backbone.PRLSTMModel) and the LM demo's model config,
without transformers: padding, cache continuation, hidden states, errors, old checkpoints."""

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, load_model

from prlstm.lm.backbone import PRLSTMModel
from prlstm.lm.cache import PRLSTMCache
from prlstm.lm.models import CharLM, CharLMConfig, canonical_names

DATA = Path(__file__).parent / "data"
# The sizes the old-format fixtures in tests/lm/data were written with (see its README).
OLD_SIZES = {"pr_lstm": {"emb": 8, "hidden": 12, "layers": 2},
             "lstm": {"emb": 8, "hidden": 12, "layers": 2},
             "transformer": {"emb": 8, "hidden": 0, "layers": 2, "heads": 2, "ff": 16,
                             "max_len": 16}}


def _backbone(seed: int = 0, **kw) -> PRLSTMModel:
    torch.manual_seed(seed)
    kw = {"embedding_size": 5, "num_layers": 3, **kw}
    return PRLSTMModel(11, 6, **kw).double().eval()


def _rows(lengths: list[int], V: int = 11) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, V, (n,), generator=g) for n in lengths]


# --------------------------------------------------------------------------- old checkpoints
@pytest.mark.parametrize("kind", list(OLD_SIZES))
def test_old_format_state_dicts_load_and_give_the_same_logits(kind):
    expected = load_file(str(DATA / "expected.safetensors"))
    torch.manual_seed(0)  # the fixtures' seed: a fresh model draws the same weights as before
    fresh = CharLM(kind, **OLD_SIZES[kind]).eval()
    loaded = CharLM(kind, **OLD_SIZES[kind]).eval()
    load_model(loaded, str(DATA / f"{kind}.safetensors"), strict=True)
    with torch.no_grad():
        for m in (fresh, loaded):
            torch.testing.assert_close(m(expected["ids"]), expected[f"{kind}.logits"])
    if kind == "pr_lstm":  # the old keys were renamed onto the backbone's while loading
        assert not any(k.startswith(("embed.", "core.", "norm.")) for k in loaded.state_dict())
        old = load_file(str(DATA / "pr_lstm.safetensors"))
        assert set(old) == {"embed.weight", "norm.weight", "norm.bias", "head.weight",
                            "head.bias"} | {k for k in old if k.startswith("core.layers.")}


def test_old_run_directory_loads_with_the_same_logits(tmp_path):
    from prlstm.lm.train import load_run

    run = tmp_path / "run"
    shutil.copytree(DATA / "run", run)
    _, model, step = load_run(run)
    expected = load_file(str(DATA / "run_expected.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(expected["ids"]), expected["logits"])
    assert step == 2 and isinstance(model.model, PRLSTMModel)


def test_old_keys_are_renamed_under_a_wrapper_prefix():
    torch.manual_seed(0)
    m = CharLM("pr_lstm", **OLD_SIZES["pr_lstm"])
    wrapper = torch.nn.ModuleDict({"inner": m})
    old = {f"inner.{k}": v for k, v in load_file(str(DATA / "pr_lstm.safetensors")).items()}
    wrapper.load_state_dict(old, strict=True)
    torch.testing.assert_close(m.model.embed.weight, old["inner.embed.weight"])


# ------------------------------------------------------------------------------- the backbone
def test_left_and_right_padding_give_each_row_alone():
    m = _backbone()
    rows = _rows([3, 7, 1, 5])
    T = max(map(len, rows))
    left = torch.zeros(len(rows), T, dtype=torch.long)
    right, mask = torch.zeros_like(left), torch.zeros_like(left)
    for b, r in enumerate(rows):
        left[b, T - len(r):], mask[b, T - len(r):] = r, 1
        right[b, : len(r)] = r
    lengths = torch.tensor([len(r) for r in rows])
    with torch.no_grad():
        by_mask = m(input_ids=left, attention_mask=mask, output_hidden_states=True)
        by_len = m(input_ids=right, lengths=lengths)
        for b, r in enumerate(rows):
            alone = m(input_ids=r[None], output_hidden_states=True)
            n = len(r)
            torch.testing.assert_close(by_mask.last_hidden_state[b, T - n:],
                                       alone.last_hidden_state[0], rtol=0, atol=1e-12)
            torch.testing.assert_close(by_len.last_hidden_state[b, :n],
                                       alone.last_hidden_state[0], rtol=0, atol=1e-12)
            for a, c in zip(by_mask.hidden_states, alone.hidden_states, strict=True):
                torch.testing.assert_close(a[b, T - n:], c[0], rtol=0, atol=1e-12)
    assert len(by_mask.hidden_states) == 3 + 1
    assert by_mask.hidden_states[0].shape[-1] == 5 and by_mask.hidden_states[-1].shape[-1] == 6
    assert by_mask.last_hidden_state.shape == (4, T, 6)  # output_size defaults to hidden_size


def test_cache_continuation_equals_the_full_forward():
    m = _backbone(output_size=5)
    ids = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = m(input_ids=ids).last_hidden_state
        out = m(input_ids=ids[:, :5], use_cache=True)
        assert isinstance(out.cache, PRLSTMCache) and out.cache.seen == 5
        pieces = [out.last_hidden_state]
        for chunk in (ids[:, 5:6], ids[:, 6:10], ids[:, 10:]):  # one step, then chunks
            out = m(input_ids=chunk, cache=out.cache, use_cache=True)
            pieces.append(out.last_hidden_state)
        assert out.cache.seen == 12 and len(out.cache.states) == 3
        assert m(input_ids=ids[:, :1], cache=out.cache).cache is None
    torch.testing.assert_close(torch.cat(pieces, 1), full, rtol=0, atol=1e-12)
    assert full.shape[-1] == 5 and isinstance(m.readout, torch.nn.Linear)


def test_inputs_embeds_equal_input_ids():
    m = _backbone()
    ids = torch.randint(0, 11, (2, 6), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = m(input_ids=ids).last_hidden_state
        b = m(inputs_embeds=m.embed(ids)).last_hidden_state
    assert torch.equal(a, b)


def test_backbone_errors():
    m = _backbone()
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        m()
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=11\), got "
                                         r"values in \[1, 11\]"):
        m(input_ids=torch.tensor([[1, 11]]))
    with pytest.raises(ValueError, match="attention_mask .* or lengths .*, not both"):
        m(input_ids=ids, attention_mask=torch.ones_like(ids), lengths=torch.tensor([4, 4]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=4\], got values in "
                                         r"\[0, 4\]"):
        m(input_ids=ids, lengths=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"lengths must be a \(2,\) integer tensor"):
        m(input_ids=ids, lengths=torch.tensor([4.0, 4.0]))
    with pytest.raises(ValueError, match="right padding"):
        m(input_ids=ids, attention_mask=torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]))
    cache = m(input_ids=ids, use_cache=True).cache
    with pytest.raises(ValueError, match="a cache continues every row"):
        m(input_ids=ids, cache=cache, lengths=torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="cache holds 2 rows but input has 1"):
        m(input_ids=ids[:1], cache=cache)
    with pytest.raises(TypeError, match="cache must be a PRLSTMCache"):
        m(input_ids=ids, cache=cache.states)


# ------------------------------------------------------------------------- the model config
def test_char_lm_config_is_validated_once_with_the_argument_value_and_expectation():
    with pytest.raises(ValueError, match=r"CharLMConfig.model: expected one of .*, got 'gpt'"):
        CharLMConfig(model="gpt")
    with pytest.raises(ValueError, match=r"CharLMConfig.hidden_size: expected an int in "
                                         r"\[1, 65,536\], got 0"):
        CharLMConfig(model="lstm", hidden_size=0)
    with pytest.raises(ValueError, match=r"CharLMConfig.num_layers: expected an int .*, "
                                         r"got True"):
        CharLMConfig(num_layers=True)
    with pytest.raises(ValueError, match="CharLMConfig.embedding_size: expected a multiple of "
                                         "num_heads=4"):
        CharLMConfig(model="transformer", embedding_size=10)
    assert CharLMConfig(model="transformer", hidden_size=0).hidden_size == 0  # unused there
    with pytest.raises(TypeError, match="CharLMConfig has no field 'width'"):
        CharLMConfig.for_model("lstm", width=3)
    with pytest.raises(TypeError, match="a CharLMConfig or a model name with sizes, not both"):
        CharLM(CharLMConfig(), hidden_size=8)


def test_for_model_defaults_and_older_names():
    assert CharLMConfig.for_model("lstm") == CharLMConfig(model="lstm", embedding_size=64,
                                                          hidden_size=224, num_layers=1)
    older = CharLMConfig.for_model("transformer", emb=32, hidden=0, layers=0, heads=2, ff=8,
                                   max_len=9)
    assert older == CharLMConfig(model="transformer", embedding_size=32, hidden_size=0,
                                 num_layers=2, num_heads=2, ff_size=8, max_len=9)
    assert CharLMConfig.for_model("pr_lstm", refinements=0).refinements == 0  # not a size
    torch.manual_seed(0)
    a = CharLM(CharLMConfig(model="pr_lstm", embedding_size=8, hidden_size=12, num_layers=2))
    torch.manual_seed(0)
    b = CharLM("pr_lstm", **OLD_SIZES["pr_lstm"])
    assert a.config == b.config
    for (n1, p1), (n2, p2) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)


def test_older_names_of_saved_run_configs_read_as_the_shared_ones():
    older = {"batch": 2, "eval_every": 5, "emb": 3, "hidden": 6, "layers": 1, "lr": 1.0}
    assert canonical_names(older) == {"batch_size": 2, "val_every": 5, "embedding_size": 3,
                                      "hidden_size": 6, "num_layers": 1, "lr": 1.0}
    shared = {"batch_size": 4, "val_every": 5, "hidden_size": 6, "seed": 7}
    assert canonical_names(shared) == shared


@pytest.mark.slow
def test_the_lm_demo_and_its_backbone_do_not_import_transformers():
    import subprocess
    import sys

    code = ("import sys\n"
            "import prlstm.lm.backbone, prlstm.lm.cache, prlstm.lm.cli, prlstm.lm.models\n"
            "assert 'transformers' not in sys.modules, 'transformers was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
