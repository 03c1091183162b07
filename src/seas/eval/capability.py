"""General capability kept by a target: log-likelihood of reference answers.

For each general instruction (``data/builtin/general.jsonl``: a prompt and a helpful
reference answer we wrote), the prompt goes through the model's chat template exactly
as in generation, and we score the reference answer's tokens: the mean log-probability
per answer token (nats). ``seas evaluate`` reports, for each T_i, the mean over
examples and its paired difference to T0.

Why this measure: a 135M model on a CPU cannot be graded by MT-Bench or Arena-Hard (it
would need a strong judge model and gives noise at this size), while the likelihood of
good answers is cheap (one forward pass per example), deterministic, needs no judge,
and moves when safety training pushes a model towards refusing or deflecting: a T_i
that now prefers "I can't help with that" gives the helpful reference answers a lower
likelihood. A negative difference to T0 means lost general ability; zero means kept.
It is a proxy: it measures how close the model stays to good answers, not whether its
own sampled answers are good.
"""

from __future__ import annotations

import gc
from typing import Any, Sequence

from seas.config import ModelConfig


def encode_pair(tokenizer: Any, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """Token ids of the rendered prompt (as the hf backend renders it) and of the answer."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        p_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        p_ids = tokenizer(prompt + "\n\n", add_special_tokens=True)["input_ids"]
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    return list(p_ids), list(r_ids)


def reference_logprobs(
    ref: str,
    model_cfg: ModelConfig,
    examples: Sequence[dict[str, Any]],
    batch_size: int = 4,
    max_tokens: int = 512,
) -> list[dict[str, Any]]:
    """Per example: ``{"id", "logprob_sum", "tokens"}`` of the reference answer under ``ref``.

    Loads the model once for all examples. An answer truncated away entirely (prompt
    longer than ``max_tokens``) gets ``tokens: 0`` and ``logprob_sum: None``.
    """
    import torch

    from seas.models import load_for_inference

    tok, model = load_for_inference(ref, model_cfg.dtype, model_cfg.trust_remote_code)
    seqs = []
    for ex in examples:
        p_ids, r_ids = encode_pair(tok, ex["prompt"], ex["response"])
        ids = (p_ids + r_ids)[:max_tokens]
        seqs.append((ex["id"], ids, max(1, min(len(p_ids), len(ids)))))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out: list[dict[str, Any]] = []
    try:
        for b in range(0, len(seqs), batch_size):
            batch = seqs[b : b + batch_size]
            width = max(len(ids) for _, ids, _ in batch)
            input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for _, ids, _ in batch], device=model.device)
            attn = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for _, ids, _ in batch], device=model.device)
            with torch.inference_mode():
                logits = model(input_ids=input_ids, attention_mask=attn).logits[:, :-1].float()
                # log p(token t | tokens < t), read at position t-1
                logp = logits.gather(-1, input_ids[:, 1:, None])[..., 0] - logits.logsumexp(-1)
            for j, (ex_id, ids, n_prompt) in enumerate(batch):
                vals = logp[j, n_prompt - 1 : len(ids) - 1]
                n = int(vals.numel())
                out.append({"id": ex_id, "logprob_sum": float(vals.sum()) if n else None, "tokens": n})
    finally:
        del model
        gc.collect()
    return out
