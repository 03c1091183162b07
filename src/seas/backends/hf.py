"""In-process generation with transformers: batched, length-sorted, left-padded."""

from __future__ import annotations

import functools
import gc
from typing import Any, Sequence

from tqdm.auto import tqdm

from seas.backends import BACKENDS, Prompt
from seas.config import GenerationConfig


def render(tokenizer: Any, prompt: Prompt) -> tuple[str, bool]:
    """Prompt -> (text, whether the tokenizer should add its special tokens).

    Chat prompts go through the chat template (which carries its own special tokens);
    a model without one gets the message contents as plain text.
    """
    if isinstance(prompt, str):
        return prompt, True
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False), False
    return "\n\n".join(m["content"] for m in prompt) + "\n\n", True


class NucleusSampler:
    """Draws the next token itself (temperature, then top-p, then a draw) and hands
    ``generate`` a row that is ``-inf`` except at that token, so ``generate`` runs greedy.

    Why not transformers' own sampler: its TopPLogitsWarper sorts the whole vocabulary and
    ``torch.multinomial`` draws one random number per vocabulary entry, for every sequence at
    every step. On a CPU with a 49K vocabulary those two were a third of generation time
    (torch profiler, BENCHMARKS.md). Here the nucleus is looked for among the top ``ks[0]``
    tokens, then, for the rows whose nucleus is larger, among the top ``ks[1]``, and so on;
    the rows left over sort their whole vocabulary. The draw is among the nucleus, so the
    distribution is exactly transformers' (tests/test_generation.py). With the embedded model
    at T=0.8, top-p 0.9 the median nucleus is 5 tokens and 9% of rows need more than 64
    (BENCHMARKS.md); a top-64 costs a quarter of a top-512.
    The draw uses torch's global generator, so a seed still fixes the samples.
    """

    def __init__(self, temperature: float, top_p: float, ks: Sequence[int] = (64, 1024)) -> None:
        self.temperature, self.top_p, self.ks = temperature, top_p, tuple(ks)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        tokens = self.draw((scores.float() / self.temperature).softmax(-1))
        return torch.full_like(scores, float("-inf")).scatter_(-1, tokens[:, None], 0.0)

    def draw(self, probs: Any) -> Any:
        """One token id per row of ``probs`` (already tempered)."""
        import torch

        rows, vocab = probs.shape
        if self.top_p >= 1.0:
            return torch.multinomial(probs, 1)[:, 0]
        tokens = torch.empty(rows, dtype=torch.long, device=probs.device)
        todo = torch.arange(rows, device=probs.device)
        for k in self.ks:
            if k >= vocab or not len(todo):
                break
            top, idx = (probs if len(todo) == rows else probs[todo]).topk(k, dim=-1)
            done = top.sum(-1) >= self.top_p  # the nucleus lies within these k
            if bool(done.any()):
                tokens[todo[done]] = self._pick(top[done], idx[done])
            todo = todo[~done]
        if len(todo):  # rows whose nucleus is larger than every k: sort the whole row
            tokens[todo] = self._pick(*probs[todo].sort(-1, descending=True))
        return tokens

    def _pick(self, top: Any, idx: Any) -> Any:
        import torch

        before = top.cumsum(-1) - top  # keep a token while the ones ranked above it hold < top_p
        keep = before < self.top_p
        keep[:, 0] = True
        return idx.gather(-1, torch.multinomial(top * keep, 1))[:, 0]


class HFGenerator:
    """Keeps one model loaded for a whole stage; batches of similar length together
    so that little compute is spent on padding."""

    def __init__(
        self,
        model_ref: str,
        dtype: str = "float32",
        trust_remote_code: bool = False,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        from seas.models import inference_device, load_model, load_tokenizer

        self.tokenizer = tokenizer or load_tokenizer(model_ref, trust_remote_code)
        self.tokenizer.padding_side = "left"
        self.model = model or load_model(model_ref, dtype, trust_remote_code).to(inference_device())
        self.model.eval()
        self._prefill_args = _prefill_args(self.model)
        use_decode_attention(self.model)

    def generate(
        self, prompts: Sequence[Prompt], n: int, settings: GenerationConfig, seed: int, desc: str = ""
    ) -> list[list[str]]:
        import torch
        from transformers import LogitsProcessorList

        tok = self.tokenizer
        rendered = [render(tok, p) for p in prompts]
        encoded = [tok(text, add_special_tokens=special)["input_ids"] for text, special in rendered]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        per_batch = max(1, settings.batch_size // n)
        out: list[list[str]] = [[] for _ in prompts]
        batches = [order[i : i + per_batch] for i in range(0, len(order), per_batch)]
        sampler = NucleusSampler(settings.temperature, settings.top_p) if settings.temperature > 0 else None
        for b, idx in enumerate(tqdm(batches, desc=desc or "generate", unit="batch", leave=False)):
            batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(self.model.device)
            torch.manual_seed(seed * 100_003 + b)  # reproducible per batch, also after a resume
            with torch.inference_mode():
                inputs = self._shared_prefill(batch, n) or {
                    "input_ids": batch["input_ids"].repeat_interleave(n, 0),
                    "attention_mask": batch["attention_mask"].repeat_interleave(n, 0),
                }
                gen = self.model.generate(
                    **inputs,
                    do_sample=False,  # NucleusSampler draws; generate takes its one-hot row
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    logits_processor=LogitsProcessorList([sampler]) if sampler else None,
                    max_new_tokens=settings.max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                )
            new = gen[:, batch["input_ids"].shape[1] :]
            texts = tok.batch_decode(new, skip_special_tokens=True)
            for j, i in enumerate(idx):
                out[i] = [t.strip() for t in texts[j * n : (j + 1) * n]]
        return out

    def _shared_prefill(self, batch: Any, n: int) -> dict[str, Any] | None:
        """Encode each prompt once and copy its KV cache to its ``n`` samples.

        ``generate(num_return_sequences=n)`` copies the prompt n times and encodes every
        copy; on a CPU that prefill was as costly as the decoding. The cache holds all
        but the last prompt token, which ``generate`` then feeds as usual, so the samples
        are the same as without sharing (tests/test_generation.py compares them, same seed).
        Models whose cache is not a plain DynamicCache (sliding-window, hybrid, linear
        attention) keep the usual path.
        """
        from transformers import DynamicCache

        ids, mask = batch["input_ids"], batch["attention_mask"]
        if ids.shape[1] < 2 or not self._prefill_args:
            return None
        decoder, cache_kw, extra = self._prefill_args
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        out = decoder(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                      use_cache=True, **extra)
        cache = getattr(out, "cache", None)
        if cache is None:  # called past_key_values before transformers 5.x
            cache = getattr(out, "past_key_values", None)
        if type(cache) is not DynamicCache:
            self._prefill_args = None  # this model's cache cannot be shared: do not try again
            return None
        if n > 1:
            cache.batch_repeat_interleave(n)
        return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": mask.repeat_interleave(n, 0),
                cache_kw: cache}

    def close(self) -> None:
        del self.model
        gc.collect()


DECODE_ATTENTION = "seas_decode"


def decode_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
    scaling: float | None = None, **kwargs: Any,
) -> tuple[Any, None]:
    """Attention for one new token per sequence as two batched matmuls, for CPUs.

    On a CPU, torch's flash-attention kernel spends 0.2-1.5 ms a layer on a decoding step of
    this size (32-128 sequences, 3 KV heads, 100-250 cached tokens), three times what the two
    matmuls take (BENCHMARKS.md). The arithmetic is that of transformers' "eager" attention up
    to rounding (products in the model's dtype, then scaling, mask and softmax in float32)
    without its copies of the KV heads: each KV head's group of query heads is one matmul.
    Everything else (the prefill, training, soft-capped or sink attention) goes to
    transformers' SDPA path.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    special = any(kwargs.get(k) is not None for k in ("softcap", "s_aux", "sinks", "position_bias"))
    if q_len != 1 or module.training or special or heads % kv_heads or value.shape[-1] != dim:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    group = heads // kv_heads  # query head h reads KV head h // group, as transformers' repeat_kv
    keys = key.reshape(batch * kv_heads, length, dim)
    scores = torch.bmm(query.reshape(batch * kv_heads, group, dim), keys.transpose(1, 2)).float()
    scores = scores.view(batch, kv_heads, group, length).mul_(scaling if scaling is not None else dim**-0.5)
    if attention_mask is not None:
        mask = attention_mask[..., :length]
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    probs = scores.softmax(-1).to(value.dtype).view(batch * kv_heads, group, length)
    out = torch.bmm(probs, value.reshape(batch * kv_heads, length, dim)).view(batch, heads, 1, dim)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def _register_decode_attention() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(DECODE_ATTENTION, decode_attention)
    AttentionMaskInterface.register(DECODE_ATTENTION, sdpa_mask)  # the masks SDPA takes


def use_decode_attention(model: Any) -> bool:
    """Switch a model on a CPU from SDPA to ``decode_attention``; True if it was switched."""
    config = getattr(model, "config", None)
    if model.device.type != "cpu" or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    _register_decode_attention()
    try:
        model.set_attn_implementation(DECODE_ATTENTION)
    except (AttributeError, ValueError):  # an older transformers or a model that pins its attention
        return False
    return getattr(model.config, "_attn_implementation", None) == DECODE_ATTENTION  # some only warn


def _prefill_args(model: Any) -> tuple[Any, str, dict[str, Any]] | None:
    """(the module that encodes the prompts, its cache argument, extra arguments), or None.

    The prefill needs only the KV cache, so it runs the decoder without the LM head where
    the model has one (``base_model``). Besides saving the LM head, this keeps off a slow path
    of torch 2.13 on CPUs: the LM head on the last position of a prefill (``logits_to_keep=1``,
    a strided slice) with weights that do not require grad, as in every model merged from a
    LoRA adapter, went through a ``bmm`` that copied the 49K x 576 weight once per sequence:
    2.4 s and 3.6 GB for 64 prompts in bf16, against 9 ms (pytorch/pytorch#151934).
    """
    import inspect

    decoder = getattr(model, "base_model", model)
    params = inspect.signature(decoder.forward).parameters
    kw = "cache" if "cache" in params else "past_key_values"  # renamed within transformers 5.x
    if kw not in params or "position_ids" not in params:
        return None
    return decoder, kw, {"logits_to_keep": 1} if "logits_to_keep" in params else {}


@BACKENDS.register("hf")
def _make(model_ref: str, **options: Any) -> HFGenerator:
    return HFGenerator(model_ref, **options)
