"""One backbone for both LMs: the HF causal LM and the LM demo share prlstm.lm.backbone's
PRLSTMModel (same weights -> same logits), old HF checkpoints load unchanged, and the config
speaks the shared vocabulary (num_layers, with transformers' num_hidden_layers as an alias)."""

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers", minversion="5.24",
                    reason="prlstm.hf needs transformers>=5.24 (Python >= 3.11): the hf extra")
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

import prlstm.hf as H  # noqa: E402
from prlstm.lm.backbone import PRLSTMModel  # noqa: E402
from prlstm.lm.models import CharLM, CharLMConfig  # noqa: E402

DATA = Path(__file__).parent / "data"


def _pair(seed: int = 0) -> tuple[H.PRLSTMForCausalLM, CharLM]:
    """An HF model and an LM-demo model holding the same weights (the demo's head bias 0)."""
    torch.manual_seed(seed)
    lm = CharLM(CharLMConfig(model="pr_lstm", embedding_size=10, hidden_size=10, num_layers=2,
                             refinements=2)).double().eval()
    with torch.no_grad():
        lm.head.bias.zero_()
        lm.head.weight.mul_(8.0)  # peaked logits: greedy decoding is not a tie-break
    cfg = H.PRLSTMConfig(vocab_size=256, hidden_size=10, num_layers=2, refinements=2,
                         tie_word_embeddings=False)
    hf = H.PRLSTMForCausalLM(cfg).double().eval()
    hf.model.load_state_dict(lm.model.state_dict(), strict=True)  # the same keys
    hf.lm_head.load_state_dict({"weight": lm.head.weight})
    return hf, lm


def test_hf_and_lm_demo_share_the_backbone_and_give_identical_logits():
    hf, lm = _pair()
    assert type(hf.model) is PRLSTMModel and type(lm.model) is PRLSTMModel
    assert H.PRLSTMModel is PRLSTMModel
    ids = torch.randint(0, 256, (3, 11), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(hf(ids, use_cache=False).logits, lm(ids))
        assert torch.equal(hf(ids, use_cache=True).logits, lm(ids))


@pytest.mark.slow
def test_hf_generate_and_the_lm_demos_own_loop_pick_the_same_tokens():
    hf, lm = _pair(seed=1)
    ids = torch.randint(0, 256, (3, 11), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        greedy = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                             do_sample=False, pad_token_id=0)
    assert torch.equal(greedy[:, 11:], lm.generate(ids, 6, temperature=0))


@pytest.mark.parametrize("name", ["readout", "tied"])
def test_checkpoints_saved_before_the_shared_backbone_load_with_the_same_logits(name):
    expected = load_file(str(DATA / "expected.safetensors"))
    m = AutoModelForCausalLM.from_pretrained(DATA / name).eval()
    assert isinstance(m, H.PRLSTMForCausalLM) and m.config.num_layers == 2
    assert '"num_hidden_layers": 2' in (DATA / name / "config.json").read_text()
    with torch.no_grad():
        torch.testing.assert_close(m(expected["ids"]).logits, expected[f"{name}.logits"])
        torch.testing.assert_close(m(expected["ids"], attention_mask=expected["mask"]).logits,
                                   expected[f"{name}.masked_logits"])


def test_num_layers_is_canonical_and_num_hidden_layers_an_alias(tmp_path):
    cfg = H.PRLSTMConfig(vocab_size=9, hidden_size=4, num_hidden_layers=3)
    assert cfg.num_layers == 3 and cfg.num_hidden_layers == 3
    saved = cfg.to_dict()
    assert saved["num_layers"] == 3 and "num_hidden_layers" not in saved
    cfg.num_hidden_layers = 4  # writes go to the canonical field too
    assert cfg.num_layers == 4
    cfg.save_pretrained(tmp_path)
    again = H.PRLSTMConfig.from_pretrained(tmp_path)
    assert again.num_layers == 4
    with pytest.raises(ValueError, match=r"got num_layers=5 and its alias num_hidden_layers=6"):
        H.PRLSTMConfig(num_layers=5, num_hidden_layers=6)
    # an error names the argument as it was given
    with pytest.raises(ValueError, match="^num_hidden_layers must be a positive int, got 0"):
        H.PRLSTMConfig(num_hidden_layers=0)
    with pytest.raises(ValueError, match="^num_layers must be at most 1024, got 2000"):
        H.PRLSTMConfig(num_layers=2000)
    assert len(H.PRLSTMForCausalLM(H.PRLSTMConfig(vocab_size=9, hidden_size=4,
                                                  num_layers=3)).model.layer.layers) == 3
