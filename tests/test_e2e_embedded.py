"""The whole loop on the real embedded model (SmolLM2-135M-Instruct) and the default judge,
at a reduced size: the one test that shows every stage working on real weights."""

import json
from pathlib import Path

import pytest

from seas.config import load_config
from seas.io import read_jsonl
from seas.loop import run, summary
from seas.models import load_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_config_reduced_runs_end_to_end(tmp_path):
    cfg = load_config(ROOT / "configs" / "demo.yaml")  # the demo's settings and default judge ...
    cfg.iterations = 1  # ... at a reduced size
    cfg.seeds_per_iteration = 3
    cfg.redteam.prompts_per_seed = 2
    cfg.target.responses_per_prompt = 2
    cfg.redteam.sft_examples = 4
    cfg.redteam.generation.max_new_tokens = 32
    cfg.target.generation.max_new_tokens = 32
    assert cfg.judge.name == "embedded"
    metrics = run(cfg, tmp_path / "run")
    print(summary(metrics))
    (it,) = metrics["iterations"]
    assert it["responses"] == 3 * 2 * 2 - 2 * it["empty_prompts"]
    assert it["target_asr"] is not None and 0.0 <= it["target_asr"] <= 1.0
    rows = read_jsonl(tmp_path / "run" / "iter_1" / "attack.jsonl")
    assert all(r["label"] in ("safe", "unsafe", "unknown") for r in rows)
    # the red team produces text (real words, not empty) and the target answers it
    assert sum(len(r["prompt"].split()) > 2 for r in rows) >= len(rows) // 2
    assert all(isinstance(r["response"], str) for r in rows)
    # with the refusal fallback every prompt that got an unsafe answer yields a target pair
    if it["labels"]["unsafe"]:
        assert it["target_pairs"] >= 1
    # every checkpoint of the run loads, with its tokenizer
    for role in ("redteam", "target"):
        for d in ("iter_0", "iter_1"):
            ref = str(tmp_path / "run" / d / role)
            assert json.loads((Path(ref) / "seas_model.json").read_text())["kind"] in ("adapter", "pointer", "full")
            load_tokenizer(ref)
    assert load_model(str(tmp_path / "run" / "iter_1" / "target")).config.model_type == "llama"


@pytest.mark.slow
def test_default_judge_agrees_with_our_held_out_labels():
    """The fitted default judge on the held-out split it never saw (docs/judges.md: 0.887)."""
    from seas.data.loading import load_labelled
    from seas.judges import make_judge
    from seas.judges.evaluate import evaluate_judge

    result = evaluate_judge(make_judge("embedded"), load_labelled("builtin", "judge_heldout"), n_boot=100)
    assert result["confusion"]["unknown"] == 0
    assert result["accuracy"] >= 0.85, result
