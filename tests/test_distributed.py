"""Two CPU processes (gloo) train the tiny model through `accelerate launch`."""

import json

import torch

from seas.config import ModelConfig, TrainConfig
from seas.models import load_model
from seas.stages.train import train


def test_two_process_dpo_trains_and_saves_a_loadable_checkpoint(tiny_model, tmp_path):
    pairs = [{"prompt": f"question {i}", "chosen": f"good answer {i}", "rejected": f"bad answer {i}"} for i in range(8)]
    cfg = TrainConfig(learning_rate=1e-2, epochs=1, batch_size=2, max_length=64, num_processes=2)
    out = tmp_path / "dpo"
    stats = train("dpo", tiny_model, ModelConfig(name_or_path=tiny_model), cfg, pairs, out, seed=0)
    assert stats["num_processes"] == 2
    # 8 pairs / (2 processes x batch 2) = 2 optimizer steps: both processes took part
    assert stats["steps"] == 2
    assert json.loads((out / "seas_model.json").read_text())["kind"] == "adapter"
    assert not (tmp_path / "dpo.job").exists() and not (tmp_path / "dpo.tmp").exists()
    ids = torch.tensor([[1, 5, 9, 14]])
    with torch.no_grad():
        assert not torch.allclose(load_model(str(out))(ids).logits, load_model(tiny_model)(ids).logits, atol=1e-6)
