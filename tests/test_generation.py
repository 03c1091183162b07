import torch
from transformers import TopPLogitsWarper

from seas.backends.hf import FastTopP, HFGenerator, render
from seas.config import GenerationConfig


def test_fast_top_p_matches_transformers():
    torch.manual_seed(0)
    hf = TopPLogitsWarper(0.9)
    for scale in (0.5, 3.0, 10.0):  # flat (nucleus beyond the top k) to peaked distributions
        scores = torch.randn(16, 5000) * scale
        want = hf(None, scores.clone()) == float("-inf")
        got = FastTopP(0.9, k=64)(None, scores.clone()) == float("-inf")
        assert (want != got).sum() <= 2  # float rounding at the boundary only
        assert (~got).sum(-1).min() >= 1


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
