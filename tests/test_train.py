"""Training-side behaviours that the loop tests do not isolate."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("autocast", [False, True])
def test_label_positions_only_scores_fewer_rows_with_the_same_results(tiny_model, monkeypatch, autocast):
    import torch
    import trl.trainer.utils as trl_utils
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from seas.stages.train import label_positions_only

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    add_fused_lm_head(model)
    torch.manual_seed(0)
    ids = torch.randint(3, 1000, (2, 12))
    labels = ids.clone()
    labels[:, :7] = -100  # a prompt
    labels[1, 10:] = -100  # padding

    rows: list[int] = []  # how many positions TRL's chunked kernel scored
    apply = trl_utils._ChunkedLogProbFunction.apply

    def spy(hidden, *rest):
        rows.append(hidden.shape[0])
        return apply(hidden, *rest)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", spy)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            lp = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        lp.float().sum().backward()
        return lp.detach().float(), model.model.embed_tokens.weight.grad.clone()

    every, every_grad = run()
    with label_positions_only():
        only, only_grad = run()
    with label_positions_only(enabled=False):  # torch_compile: TRL's own choice
        run()
    assert rows == [2 * 11, int((labels[:, 1:] != -100).sum()), 2 * 11]  # 22 scored, then 9, then 22
    assert trl_utils._use_triton(torch.device("cpu")) is False  # restored
    tol = dict(atol=1e-2, rtol=1e-2) if autocast else dict(atol=1e-5)
    assert torch.allclose(every, only, **tol)
    assert torch.allclose(every_grad, only_grad, **(dict(atol=1e-3, rtol=1e-2) if autocast else dict(atol=1e-6)))
    assert (only[:, :6] == 0).all() and (only[1, 9:] == 0).all() and (only[0, 6:] != 0).all()
