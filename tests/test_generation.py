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
