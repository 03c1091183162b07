"""Where one decoding step of the embedded model goes, on this machine.

Usage::

    python benchmarks/decode_step.py [--batch 32 128] [--context 60 150] [--dtype bfloat16]

For each batch size B and context length L it times, with the KV cache of L tokens in place:

- ``step_ms``: one forward of B new tokens through the model (what ``generate`` runs per token),
  with seas's decoding attention;
- ``matmul_ms``: the same step's matrix products alone (7 per layer and the LM head, at B rows);
- ``framework_ms``: the same forward through a model of the same depth and structure (30 layers,
  grouped-query attention) but 96 wide and a 1,000-token vocabulary, whose arithmetic is next to
  nothing: what Python, transformers and torch's dispatch cost per step;
- ``limit_ms``: 2 x parameters x B FLOPs at the matmul rate that ``benchmarks/run.py`` takes as
  the machine's limit (256 rows).

It prints one JSON object and writes it to ``benchmarks/results/``. It explains
``generation_fraction_of_limit`` in BENCHMARKS.md: the fraction cannot be higher than
limit_ms / step_ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _median_ms(fn: Any, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1e3


def step_ms(model: Any, batch: int, context: int, vocab: int, reps: int = 10) -> float:
    """One decoding step after ``context`` tokens (a tenth of the rows left-padded), with the
    attention seas decodes with (``use_decode_attention``): the median of ``reps`` steps."""
    import torch

    from seas.backends.hf import use_decode_attention

    use_decode_attention(model)
    ids = torch.randint(1, vocab, (batch, context))
    mask = torch.ones(batch, context + 1, dtype=torch.long)
    mask[: max(1, batch // 10), : context // 4] = 0
    with torch.inference_mode():
        cache = model(input_ids=ids, attention_mask=mask[:, :-1], use_cache=True, logits_to_keep=1).past_key_values
        nxt = torch.randint(1, vocab, (batch, 1))

        def one() -> None:
            model(input_ids=nxt, attention_mask=mask, past_key_values=cache, use_cache=True)
            cache.crop(-1)  # the next repetition sees the same length

        return _median_ms(one, reps)


def matmul_ms(cfg: Any, batch: int, dtype: Any, reps: int = 20) -> float:
    import torch
    import torch.nn.functional as F

    h, inter = cfg.hidden_size, cfg.intermediate_size
    kv = cfg.num_key_value_heads * (h // cfg.num_attention_heads)
    shapes = [(h, h), (kv, h), (kv, h), (h, h), (inter, h), (inter, h), (h, inter)]
    weights = [torch.randn(o, i, dtype=dtype) for o, i in shapes]
    head = torch.randn(cfg.vocab_size, h, dtype=dtype)
    xs = {i: torch.randn(batch, i, dtype=dtype) for i in (h, inter)}

    def one() -> None:
        for w in weights:
            F.linear(xs[w.shape[1]], w)

    return cfg.num_hidden_layers * _median_ms(one, reps) + _median_ms(lambda: F.linear(xs[h], head), reps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--context", type=int, nargs="+", default=[60, 150])
    ap.add_argument("--dtype", default="bfloat16")
    a = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from seas.models import load_for_inference

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import RESULTS, machine, matmul_flops

    dtype = getattr(torch, a.dtype)
    _, model = load_for_inference("embedded")
    model = model.to(dtype).eval()
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    heads = cfg.num_attention_heads // cfg.num_key_value_heads  # the same grouping, one KV head of 32
    thin_cfg = AutoConfig.for_model(
        cfg.model_type, hidden_size=32 * heads, intermediate_size=64 * heads, num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=heads, num_key_value_heads=1, vocab_size=1000, tie_word_embeddings=True,
    )
    thin = AutoModelForCausalLM.from_config(thin_cfg).to(dtype).eval()
    limit = matmul_flops(cfg.hidden_size, cfg.intermediate_size, dtype=a.dtype)
    rows = []
    for b in a.batch:
        mm = matmul_ms(cfg, b, dtype)
        for length in a.context:
            rows.append({
                "batch": b, "context": length,
                "step_ms": round(step_ms(model, b, length, cfg.vocab_size), 1),
                "matmul_ms": round(mm, 1),
                "framework_ms": round(step_ms(thin, b, length, thin_cfg.vocab_size), 1),
                "limit_ms": round(2 * params * b / limit * 1e3, 1),
            })
            rows[-1]["tokens_per_s"] = round(b / rows[-1]["step_ms"] * 1e3)
            rows[-1]["fraction_of_limit"] = round(rows[-1]["limit_ms"] / rows[-1]["step_ms"], 3)
            print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "dtype": a.dtype,
              "limit_flops": limit, "params": params, "steps": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-decode-step.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
