import torch
from transformers import TemperatureLogitsWarper, TopPLogitsWarper

from seas.backends.hf import HFGenerator, NucleusSampler, render
from seas.config import GenerationConfig


def test_nucleus_sampler_draws_from_transformers_distribution():
    # temperature, then top-p (transformers' warpers), then a draw: compare frequencies over many
    # rows, for a peaked row (nucleus within the top k) and a flat one (falls back to a full sort)
    torch.manual_seed(0)
    vocab, rows = 40, 20000
    for scale in (4.0, 0.3):
        logits = torch.randn(1, vocab) * scale
        warped = TopPLogitsWarper(0.9)(None, TemperatureLogitsWarper(0.8)(None, logits.clone()))
        want = warped.softmax(-1)[0]
        sampler = NucleusSampler(0.8, 0.9, k=6)
        out = sampler(None, logits.expand(rows, vocab).clone())
        assert (out.isfinite().sum(-1) == 1).all()  # one token per row, the rest -inf
        got = torch.bincount(out.argmax(-1), minlength=vocab).float() / rows
        assert got[want == 0].sum() == 0  # never outside transformers' nucleus
        assert (got - want).abs().max() < 0.015


def test_hf_generator_batches_samples_and_is_reproducible(tiny_model):
    gen = HFGenerator(tiny_model)
    prompts = [[{"role": "user", "content": "hello there"}], "raw text prompt", [{"role": "user", "content": "x " * 30}]]
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=6, batch_size=4)
    a = gen.generate(prompts, 3, s, seed=1)
    assert [len(x) for x in a] == [3, 3, 3]
    assert a == gen.generate(prompts, 3, s, seed=1)
    assert a != gen.generate(prompts, 3, s, seed=2)
    # chat prompts go through the chat template; raw strings are sent as they are
    assert "<|im_start|>assistant" in render(gen.tokenizer, prompts[0])[0]
    assert render(gen.tokenizer, "raw")[0] == "raw"
    assert gen.tokenizer.padding_side == "left"


def test_shared_prefill_gives_the_same_samples(tiny_model):
    # each prompt is encoded once and its cache copied to its samples; the samples must
    # be the ones generate(num_return_sequences=n) gives (same seed, same batch layout)
    gen = HFGenerator(tiny_model)
    assert gen._prefill_args is not None
    prompts = [[{"role": "user", "content": "hello there"}], "raw text prompt", [{"role": "user", "content": "x " * 30}]]
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=8, batch_size=8)
    shared = gen.generate(prompts, 4, s, seed=3)
    assert gen._prefill_args is not None  # the tiny llama's cache was shared, not skipped
    gen._prefill_args = None
    assert gen.generate(prompts, 4, s, seed=3) == shared


def test_generation_dtype_is_bf16_only_where_native(monkeypatch):
    import pytest

    from seas.config import ConfigError
    from seas.models import loading

    monkeypatch.setattr(loading, "fast_bf16", lambda: True)
    assert loading.generation_dtype("auto", "float32") == "bfloat16"
    assert loading.generation_dtype("auto", "float16") == "float16"  # an explicit model dtype wins
    assert loading.generation_dtype("float32", "float32") == "float32"
    monkeypatch.setattr(loading, "fast_bf16", lambda: False)
    assert loading.generation_dtype("auto", "float32") == "float32"
    with pytest.raises(ConfigError, match="dtype"):
        GenerationConfig(dtype="int4")


def test_hf_generator_samples_in_bfloat16(tiny_model):
    gen = HFGenerator(tiny_model, dtype="bfloat16")
    assert gen.model.dtype == torch.bfloat16
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=6, batch_size=4)
    out = gen.generate(["hello", "raw text prompt"], 2, s, seed=1)
    assert [len(x) for x in out] == [2, 2] and out == gen.generate(["hello", "raw text prompt"], 2, s, seed=1)
