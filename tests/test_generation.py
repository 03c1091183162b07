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
    calls = []
    gen.model.lm_head.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[1]))
    s = GenerationConfig(temperature=0.8, top_p=0.9, max_new_tokens=5, batch_size=8)
    out = gen.generate(["hello there", "x " * 20], 2, s, seed=0)
    assert [len(x) for x in out] == [2, 2]
    assert 1 <= len(calls) <= 5 and set(calls) == {1}  # one position per step, no prefill call


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


def test_roomy_layer_holds_what_concatenation_holds():
    # keys and values written into spare room must equal DynamicLayer's torch.cat, through
    # running out of room and through transformers replacing the tensors (crop, batch select)
    from transformers.cache_utils import DynamicLayer

    from seas.backends.hf import roomy_layer

    torch.manual_seed(0)
    plain, roomy = DynamicLayer(), roomy_layer(DynamicLayer(), room=3)
    rows = 2
    for i, t in enumerate((5, 1, 1, 1, 1, 2, 1)):
        k = torch.randn(rows, 3, t, 4)
        want, got = plain.update(k, k * 2), roomy.update(k, k * 2)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        if i == 3:
            for layer in (plain, roomy):
                layer.crop(-2)
        if i == 4:
            rows = 1
            for layer in (plain, roomy):
                layer.batch_select_indices(torch.tensor([1]))
    assert roomy.get_seq_length() == plain.get_seq_length() == 10
    assert roomy.buffers[0].shape[-2] > roomy.keys.shape[-2]  # spare room, not a copy per step
