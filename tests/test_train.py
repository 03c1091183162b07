"""Training-side behaviours that the loop tests do not isolate."""

from __future__ import annotations


def test_label_positions_only_keeps_log_probs_and_gradients(tiny_model):
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

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        model.zero_grad()
        lp = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
        lp.sum().backward()
        return lp.detach(), model.model.embed_tokens.weight.grad.clone()

    every, every_grad = run()
    cpu = torch.device("cpu")
    assert trl_utils._use_triton(cpu) is False  # TRL's own choice on a CPU: score every position
    with label_positions_only():
        assert trl_utils._use_triton(cpu) is True  # the switch seas relies on is still there
        only, only_grad = run()
    assert trl_utils._use_triton(cpu) is False  # restored
    assert torch.allclose(every, only, atol=1e-5)
    assert torch.allclose(every_grad, only_grad, atol=1e-6)
    assert (only[:, :6] == 0).all() and (only[1, 9:] == 0).all() and (only[0, 6:] != 0).all()
