from pathlib import Path

import pytest

from seas.config import ConfigError, config_from_dict, iter_fields, load_config, SeasConfig, with_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_configs_load():
    paper = load_config(ROOT / "configs" / "paper.yaml")
    assert (paper.iterations, paper.seeds_per_iteration, paper.examples_per_seed) == (3, 5000, 3)
    assert paper.redteam.prompts_per_seed == 5 and paper.target.responses_per_prompt == 5
    assert paper.redteam.generation.temperature == 0.8 and paper.target.generation.top_p == 0.9
    assert paper.redteam.dpo.beta == 0.1 and paper.redteam.dpo.learning_rate == 5e-6
    assert paper.redteam.sft.epochs == 3
    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert demo.iterations == 3 and demo.redteam.model.name_or_path == "embedded"


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"redteam\.generation\.temprature: unknown key \(did you mean 'temperature'\?\)"):
        config_from_dict({"redteam": {"generation": {"temprature": 0.5}}})


def test_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"target\.responses_per_prompt: must be > 0"):
        config_from_dict({"target": {"responses_per_prompt": 0}})
    with pytest.raises(ConfigError, match=r"iterations: expected an integer"):
        config_from_dict({"iterations": "three"})
    with pytest.raises(ConfigError, match=r"redteam\.generation\.top_p"):
        config_from_dict({"redteam": {"generation": {"top_p": 1.5}}})
    p = tmp_path / "c.yaml"
    p.write_text("iterations: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_overrides_are_dotted_and_checked():
    cfg = with_overrides(SeasConfig(), {"target.chosen": "written-refusal", "target.dpo.learning_rate": "1e-4"})
    assert cfg.target.chosen == "written-refusal" and cfg.target.dpo.learning_rate == 1e-4
    assert SeasConfig().target.chosen == "safe-sample"  # the original is untouched
    with pytest.raises(ConfigError, match=r"target\.chosen: must be one of safe-sample, written-refusal"):
        with_overrides(SeasConfig(), {"target.chosen": "refuse"})
    with pytest.raises(ConfigError, match=r"target\.dpo\.epoch: unknown key \(did you mean 'epochs'\?\)"):
        with_overrides(SeasConfig(), {"target.dpo.epoch": 3})
    with pytest.raises(ConfigError, match=r"iterations: not a section"):
        with_overrides(SeasConfig(), {"iterations.x": 3})


def test_yaml_scientific_notation_string_is_a_number():
    cfg = config_from_dict({"target": {"dpo": {"learning_rate": "5e-6"}}})
    assert cfg.target.dpo.learning_rate == 5e-6


def test_every_field_documented():
    fields = list(iter_fields(SeasConfig))
    undocumented = [k for k, _tp, _d, help_text in fields if not help_text]
    assert undocumented == []
    keys = [k for k, *_ in fields]
    assert "redteam.dpo.beta" in keys and "target.generation.top_p" in keys


def test_report_to_passes_through_to_trl(tmp_path):
    from seas.config import TrainConfig
    from seas.stages.train import _common_args

    assert _common_args(TrainConfig(), tmp_path, 0)["report_to"] == "none"
    assert _common_args(TrainConfig(report_to="tensorboard, wandb"), tmp_path, 0)["report_to"] == ["tensorboard", "wandb"]


def test_mixed_precision_sets_both_trl_flags(tmp_path, monkeypatch):
    # TRL defaults to bf16=True; "no" and a CPU without native bf16 must turn it off
    from seas.config import TrainConfig
    from seas.models import loading
    from seas.stages.train import _common_args

    def flags(mp: str) -> tuple[bool, bool]:
        a = _common_args(TrainConfig(mixed_precision=mp), tmp_path, 0)
        return a["bf16"], a["fp16"]

    assert flags("no") == (False, False) and flags("bf16") == (True, False) and flags("fp16") == (False, True)
    monkeypatch.setattr(loading, "fast_bf16", lambda: False)
    assert flags("auto") == (False, False)
    monkeypatch.setattr(loading, "fast_bf16", lambda: True)
    assert flags("auto") == (True, False)
    assert _common_args(TrainConfig(extra={"bf16": False}), tmp_path, 0)["bf16"] is False  # extra wins
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="int8")


def test_activation_checkpointing_reaches_trl(tmp_path):
    # TRL turns it on by default; the demo turns it off (a 135M model needs no memory saving)
    from trl import DPOConfig

    from seas.config import TrainConfig
    from seas.stages.train import _common_args

    for on in (True, False):
        args = DPOConfig(**_common_args(TrainConfig(activation_checkpointing=on), tmp_path, 0))
        assert args.gradient_checkpointing is on
