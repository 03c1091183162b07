import torch
from transformers import TemperatureLogitsWarper, TopPLogitsWarper

from seas.backends.hf import HFGenerator, NucleusSampler, render
from seas.config import GenerationConfig


def test_nucleus_sampler_draws_from_transformers_distribution():
    # temperature, then top-p (transformers' warpers), then a draw: compare frequencies over many
    # rows. Three kinds of row are interleaved in one batch: a peaked one (nucleus within the top
    # 2), a middling one (within the top 6) and a flat one (falls back to a full sort).
    torch.manual_seed(0)
    vocab, rows = 40, 12000
    kinds = torch.randn(3, vocab) * 0.3
    kinds[0, [5, 17]] += torch.tensor([8.0, 7.5])
    kinds[1, [1, 2, 3, 30]] += torch.tensor([6.0, 5.5, 5.0, 4.5])
    wants = TopPLogitsWarper(0.9)(None, TemperatureLogitsWarper(0.8)(None, kinds.clone())).softmax(-1)
    sizes = [int((w > 0).sum()) for w in wants]
    assert sizes[0] <= 2 < sizes[1] <= 6 < sizes[2]  # each kind takes a different stage
    sampler = NucleusSampler(0.8, 0.9, ks=(2, 6))
    out = sampler(None, kinds.repeat(rows, 1))
    assert (out.isfinite().sum(-1) == 1).all()  # one token per row, the rest -inf
    for kind, want in enumerate(wants):
        got = torch.bincount(out[kind::3].argmax(-1), minlength=vocab).float() / rows
        assert got[want == 0].sum() == 0  # never outside transformers' nucleus
        assert (got - want).abs().max() < 0.02


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


def test_prefill_skips_the_lm_head(tiny_model):
    # the prompts are encoded by the decoder alone: the LM head runs once per new token, and
    # not on the prefill (where torch 2.13 on a CPU can take a slow path, see _prefill_args)
    gen = HFGenerator(tiny_model)
    gen.model.requires_grad_(False)  # as a model merged from a LoRA adapter
    assert gen._prefill_args is not None and gen._prefill_args[0] is gen.model.base_model
    head, decoder = [], []
    gen.model.lm_head.register_forward_hook(lambda mod, args, out: head.append(args[0].shape[1]))
    gen.model.base_model.register_forward_hook(lambda mod, args, out: decoder.append(1))
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=5, batch_size=8)
    out = gen.generate(["hello there", "x " * 20], 2, s, seed=0)  # one batch: one prefill
    assert [len(x) for x in out] == [2, 2]
    assert len(head) == len(decoder) - 1 >= 1 and set(head) == {1}  # every step but the prefill


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


def test_decode_attention_is_transformers_eager_attention():
    # one new token per sequence, grouped KV heads, left padding: the same numbers as
    # transformers' eager attention (which copies the KV heads); other shapes go to SDPA
    import types

    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.models.llama.modeling_llama import eager_attention_forward

    from seas.backends.hf import decode_attention

    torch.manual_seed(0)
    module = types.SimpleNamespace(num_key_value_groups=3, training=False, is_causal=True)
    batch, heads, kv_heads, length, dim = 4, 6, 2, 7, 8
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[1, ..., :3] = False  # a left-padded row
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
        for kv_heads in (2, 6):  # groups of 3 query heads, and no grouping
            module.num_key_value_groups = heads // kv_heads
            q = torch.randn(batch, heads, 1, dim, dtype=dtype)
            k, v = (torch.randn(batch, kv_heads, length, dim, dtype=dtype) for _ in range(2))
            additive = torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
            for m, eager_mask in ((mask, additive), (additive, additive), (None, None)):
                want, _ = eager_attention_forward(module, q, k, v, eager_mask, scaling=dim**-0.5)
                got, _ = decode_attention(module, q, k, v, m, scaling=dim**-0.5)
                assert got.shape == want.shape == (batch, 1, heads, dim)
                assert torch.allclose(got.float(), want.float(), atol=tol), (dtype, (got - want).abs().max())
    kv_heads, module.num_key_value_groups = 2, 3
    q4 = torch.randn(batch, heads, 4, dim)  # a prefill: SDPA's result, as it is
    k4, v4 = (torch.randn(batch, kv_heads, 4, dim) for _ in range(2))
    got, _ = decode_attention(module, q4, k4, v4, None, scaling=dim**-0.5)
    want, _ = sdpa_attention_forward(module, q4, k4, v4, None, scaling=dim**-0.5)
    assert torch.equal(got, want)


def test_generator_uses_decode_attention_on_cpu(tiny_model):
    from seas.backends.hf import DECODE_ATTENTION

    gen = HFGenerator(tiny_model)
    assert gen.model.config._attn_implementation == DECODE_ATTENTION
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=5, batch_size=8)
    out = gen.generate(["hello there", "x " * 20], 2, s, seed=0)
    assert [len(x) for x in out] == [2, 2] and out == gen.generate(["hello there", "x " * 20], 2, s, seed=0)
