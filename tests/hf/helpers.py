"""Shared fixtures of the prlstm.hf tests: tiny peaked models, left padding, a char tokenizer."""

from __future__ import annotations

import string
from pathlib import Path

import torch

V = 23
PROMPTS = [[3, 4, 5], [7, 8, 9, 10, 11, 12, 13, 2, 5, 6, 14, 15, 16, 17, 18, 19, 20], [1],
           [2, 9, 4, 4, 1, 7, 8, 3]]  # lengths 3, 17, 1, 8: cross 2, 4, 8, 16
CHARS = string.ascii_lowercase + " .,?!:'-"


def model(cell: str = "lstm", R: int = 1, vocab_size: int = V, seed: int = 0, **kw):
    """A random float64 PRLSTMForCausalLM (H=12) with peaked, varied logits, in eval mode."""
    import prlstm.hf as H

    torch.manual_seed(seed)
    kw = {"hidden_size": 12, "num_layers": 2, "pad_token_id": 0,
          "tie_word_embeddings": False, **kw}
    cfg = H.PRLSTMConfig(vocab_size=vocab_size, cell=cell, refinements=R,
                         initializer_range=1.0, **kw)
    m = H.PRLSTMForCausalLM(cfg).double().eval()
    with torch.no_grad():
        m.lm_head.weight.mul_(8.0)  # peaked, varied logits: a random model that does not loop
    return m


def left_pad(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention_mask)`` of ``prompts`` left-padded with 0."""
    T = max(map(len, prompts))
    ids = torch.zeros(len(prompts), T, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, p in enumerate(prompts):
        ids[b, T - len(p):] = torch.tensor(p)
        mask[b, T - len(p):] = 1
    return ids, mask


def char_tokenizer(directory: str | Path | None = None):
    """A character-level fast tokenizer built offline (``<pad>`` 0, ``<eos>`` 1, ``<unk>`` 2,
    then :data:`CHARS`), saved to ``directory`` when given."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({c: 3 + i for i, c in enumerate(CHARS)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                  eos_token="<eos>", unk_token="<unk>")
    if directory is not None:
        tok.save_pretrained(directory)
    return tok
