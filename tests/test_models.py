import json

import pytest
import torch

from seas.models import ModelError, load_model, load_tokenizer, write_manifest
from seas.models.loading import _chain


def test_unknown_model_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    with pytest.raises(ModelError, match="could not load model 'no-such-org/no-such-model'"):
        load_model("no-such-org/no-such-model")


def test_adapter_chain_relative_parent_and_merge(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = load_model(tiny_model)
    peft = get_peft_model(base, LoraConfig(r=2, target_modules="all-linear", init_lora_weights=False))
    run = tmp_path / "run"
    ck = run / "iter_1" / "target"
    ck.mkdir(parents=True)
    peft.save_pretrained(ck)
    write_manifest(ck, "adapter", tiny_model)
    # a pointer inside the run is stored relative so that the run directory can move
    ptr = run / "iter_2" / "target"
    ptr.mkdir(parents=True)
    write_manifest(ptr, "pointer", str(ck))
    assert json.loads((ptr / "seas_model.json").read_text())["parent"] == "../../iter_1/target"
    root, adapters = _chain(str(ptr))
    assert root == tiny_model and [a.name for a in adapters] == ["target"]

    merged = load_model(str(ptr))
    ids = torch.tensor([[1, 5, 9, 14]])
    with torch.no_grad():
        expected = peft(ids).logits
        got = merged(ids).logits
        plain = load_model(tiny_model)(ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert not torch.allclose(plain, got, atol=1e-5)  # the adapter did change the model
    assert load_tokenizer(str(ptr)).pad_token is not None
