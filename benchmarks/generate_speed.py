"""Speed of generation: PR-LSTM's exact streaming cache vs nn.LSTM's own loop.

Measures on CPU, with untrained byte-level models of ~0.3 M parameters (the sizes of the
``prlstm lm`` demo: PR-LSTM H=128 R=1, nn.LSTM H=224, embedding 64, vocab 256):

* tokens/s of greedy generation after a 64-token prompt, batch 1 and 32: PR-LSTM through
  ``PRLSTMForCausalLM.generate`` (Hugging Face, one parallel prefill then one ``step`` per
  token), PR-LSTM through the demo's own loop (``CharLM.generate``: same prefill/step, no HF
  overhead), and ``nn.LSTM`` through its own ``(h, c)`` loop (``CharLM.generate``);
* per-token cost as the context grows to 10^5 tokens: the stream is prefilled to t tokens in
  one parallel call (the same state as streaming all t, tested in tests/core), then 256 more
  tokens are fed one ``step`` at a time through the HF model's forward with its cache; the
  cache size is counted in bytes (O(log t): popcount(t) stack entries per layer, each a
  root and a fold of (h, c) of H floats; the largest over the next 256 tokens is recorded).

Times are CPU seconds of this process (``time.process_time``) with one torch thread, since
the machine is shared; wall seconds are recorded too.

    python benchmarks/generate_speed.py            # < 5 CPU minutes; JSON in benchmarks/results/
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch


def _timed(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w


def _cache_bytes(cache) -> int:
    n = 0
    for st in cache.state.stacks:
        tensors = (list(st.roots) + list(st.folds)) if hasattr(st, "roots") else \
            [t for e in st for t in (*e.root, *e.fold)]
        # root and fold of a size-1 block are the same tensor: count storage once
        seen = {t.data_ptr(): t.numel() * t.element_size() for t in tensors}
        n += sum(seen.values())
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--contexts", type=int, nargs="+",
                        default=[10, 100, 1000, 10_000, 100_000])
    parser.add_argument("--out", default="benchmarks/results/generate_speed_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import transformers

    import prlstm.hf as H
    from prlstm.lm.models import CharLM

    torch.manual_seed(0)
    cfg = H.PRLSTMConfig(vocab_size=256, hidden_size=128, embedding_size=64,
                         num_hidden_layers=1, refinements=1, tie_word_embeddings=False)
    hf = H.PRLSTMForCausalLM(cfg).eval()
    pr = CharLM("pr_lstm", emb=64, hidden=128).eval()
    lstm = CharLM("lstm", emb=64, hidden=224).eval()
    params = {"pr_lstm_hf": sum(p.numel() for p in hf.parameters()),
              "pr_lstm": sum(p.numel() for p in pr.parameters()),
              "lstm": sum(p.numel() for p in lstm.parameters())}
    results: dict = {"device": "cpu", "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version(),
                     "threads": 1, "params": params, "new_tokens": args.new_tokens,
                     "prompt_tokens": 64, "throughput": [], "context": []}
    n = args.new_tokens
    with torch.no_grad():
        for batch in (1, 32):
            prompt = torch.randint(0, 256, (batch, 64))
            runs = {
                "pr_lstm_hf_generate": lambda p=prompt: hf.generate(
                    p, attention_mask=torch.ones_like(p), max_new_tokens=n, min_new_tokens=n,
                    do_sample=False, pad_token_id=0),
                "pr_lstm_own_loop": lambda p=prompt: pr.generate(p, n, temperature=0),
                "lstm_own_loop": lambda p=prompt: lstm.generate(p, n, temperature=0),
            }
            for name, fn in runs.items():
                fn()  # warm-up
                _, cpu, wall = _timed(fn)
                row = {"batch": batch, "model": name, "cpu_s": cpu, "wall_s": wall,
                       "tokens_per_cpu_s": batch * n / cpu}
                results["throughput"].append(row)
                print(f"B={batch:3d} {name:22s} {row['tokens_per_cpu_s']:9.0f} tokens/CPU-s "
                      f"({cpu:.2f} CPU s, {wall:.2f} wall s)", flush=True)
        steps = 256
        for t in args.contexts:
            ids = torch.randint(0, 256, (1, t))
            out, pre_cpu, _ = _timed(lambda i=ids: hf(i, use_cache=True, logits_to_keep=1))
            cache = out.cache
            tok = out.logits[:, -1].argmax(-1, keepdim=True)

            def feed(cache=cache, tok=tok):
                caches = []
                for _ in range(steps):
                    o = hf(tok, cache=cache, use_cache=True)
                    cache, tok = o.cache, o.logits[:, -1].argmax(-1, keepdim=True)
                    caches.append(cache)
                return caches

            caches, cpu, wall = _timed(feed)
            end = caches[-1]
            row = {"context": t, "prefill_cpu_s": pre_cpu, "us_per_token_cpu": 1e6 * cpu / steps,
                   "us_per_token_wall": 1e6 * wall / steps,
                   "cache_bytes_at_t": _cache_bytes(cache),
                   "cache_entries_at_t": sum(len(s) for s in cache.state.stacks),
                   "cache_bytes_after": _cache_bytes(end),
                   "max_cache_bytes_next_256": max(_cache_bytes(c) for c in caches)}
            results["context"].append(row)
            print(f"t={t:7d} {row['us_per_token_cpu']:8.0f} us/token (CPU), cache "
                  f"{row['cache_bytes_at_t']} B ({row['cache_entries_at_t']} entries; "
                  f"max next 256 "
                  f"{row['max_cache_bytes_next_256']} B), prefill "
                  f"{pre_cpu:.2f} CPU s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
