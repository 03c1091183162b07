"""SFT and DPO through TRL, saving a seas checkpoint (adapter or full model).

A checkpoint is built in a temporary folder and renamed into place once its manifest
is written, so a kill mid-training leaves nothing that looks finished. With LoRA the
checkpoint is the adapter plus a pointer to the parent model; the reference model of
DPO is then exactly the parent (the policy with its adapter disabled), which is the
paper's "previous iteration's model".
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from seas.config import ModelConfig, TrainConfig
from seas.io import write_json

log = logging.getLogger(__name__)


def _messages_or_text(tokenizer: Any, role: str, text: str) -> Any:
    if getattr(tokenizer, "chat_template", None):
        return [{"role": role, "content": text}]
    return text if role == "assistant" else text + "\n\n"


def sft_rows(tokenizer: Any, examples: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """(user text, completion) -> TRL prompt/completion rows (conversational when the model has a chat template)."""
    return [
        {"prompt": _messages_or_text(tokenizer, "user", p), "completion": _messages_or_text(tokenizer, "assistant", c)}
        for p, c in examples
    ]


def dpo_rows(tokenizer: Any, pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": _messages_or_text(tokenizer, "user", p["prompt"]),
            "chosen": _messages_or_text(tokenizer, "assistant", p["chosen"]),
            "rejected": _messages_or_text(tokenizer, "assistant", p["rejected"]),
        }
        for p in pairs
    ]


def _common_args(cfg: TrainConfig, out: Path, seed: int) -> dict[str, Any]:
    import torch

    args: dict[str, Any] = {
        "output_dir": str(out),
        "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_ratio,  # a float < 1 is a ratio in transformers 5
        "max_length": cfg.max_length,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [r.strip() for r in cfg.report_to.split(",") if r.strip()] if cfg.report_to != "none" else "none",
        "seed": seed,
        "use_cpu": not torch.cuda.is_available(),
        "disable_tqdm": False,
        _checkpointing_key(): cfg.activation_checkpointing,
    }
    args.update(precision_args(cfg.mixed_precision))
    args.update(cfg.extra)
    return args


def _checkpointing_key() -> str:
    """``activation_checkpointing`` in recent transformers, ``gradient_checkpointing`` before it."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def precision_args(mixed_precision: str) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 for ``train.mixed_precision``, always both set: TRL's
    configs default to bf16=True, which a CPU without native bf16 emulates slowly."""
    if mixed_precision == "auto":
        from seas.models.loading import fast_bf16

        mixed_precision = "bf16" if fast_bf16() else "no"
    return {"bf16": mixed_precision == "bf16", "fp16": mixed_precision == "fp16"}


def _peft_config(cfg: TrainConfig) -> Any:
    if not cfg.use_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def _check_dropped(trainer: Any, n_rows: int, max_length: int | None, kind: str) -> None:
    """TRL drops examples whose prompt alone fills ``max_length``; never train on nothing silently."""
    kept = len(trainer.train_dataset)
    if kept == 0:
        raise ValueError(
            f"{kind}: all {n_rows} examples were dropped by TRL because their prompt fills "
            f"max_length={max_length} tokens; raise the stage's max_length"
        )
    if kept < n_rows:
        log.warning("%s: %d of %d examples dropped (prompt longer than max_length=%s)", kind, n_rows - kept, n_rows, max_length)


@contextlib.contextmanager
def label_positions_only(enabled: bool = True) -> Iterator[None]:
    """Have TRL's fused LM head score only the positions that carry a label, on a CPU too.

    TRL computes the per-token log-probs of SFT and DPO in vocabulary chunks. With Triton
    (CUDA, XPU) it scores only the label positions; elsewhere it scores every position
    (prompt and padding as well, in float32, again in the backward pass) so that compiled
    tile shapes stay fixed. Nothing is compiled on a CPU unless asked (``torch_compile``,
    then pass ``enabled=False``), and there those rows cost more than the transformer itself
    at our sizes: DPO set-up and training on the benchmark's pairs took 15.6 s instead of
    25.8 s, with the same losses (BENCHMARKS.md). If TRL renames the switch, this does nothing.
    """
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        log.debug("trl.trainer.utils._use_triton not found: TRL scores every position on a CPU")
    if not enabled or original is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or original(device)
    try:
        yield
    finally:
        trl_utils._use_triton = original


def _stats(trainer: Any, result: Any, n_rows: int, seconds: float) -> dict[str, Any]:
    logs = [h for h in trainer.state.log_history if "loss" in h]
    margins = [h["rewards/margins"] for h in logs if "rewards/margins" in h]
    return {
        "rows": n_rows,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "final_loss": logs[-1]["loss"] if logs else None,
        "first_loss": logs[0]["loss"] if logs else None,
        "reward_margin": margins[-1] if margins else None,
        "reward_margin_mean": sum(margins) / len(margins) if margins else None,
        "seconds": round(seconds, 2),
        "log_history": trainer.state.log_history,
    }


def train(
    kind: str,
    parent: str,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    rows: Sequence[dict[str, Any]],
    out: Path,
    seed: int,
) -> dict[str, Any]:
    """Train ``parent`` with TRL (``kind`` 'sft' on (prompt, completion) rows, 'dpo' on
    pairs) and save the result as a complete seas checkpoint at ``out``.

    With ``cfg.num_processes > 1`` the same function runs in every process of an
    ``accelerate launch`` (see ``launch``), and this process waits for it.
    """
    shutil.rmtree(out.with_name(out.name + ".tmp"), ignore_errors=True)  # left by a killed run
    if cfg.num_processes > 1:
        return launch(kind, parent, model_cfg, cfg, rows, out, seed)
    return _train_here(kind, parent, model_cfg, cfg, rows, out, seed)


def _train_here(
    kind: str,
    parent: str,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    rows: Sequence[dict[str, Any]],
    out: Path,
    seed: int,
) -> dict[str, Any]:
    from datasets import Dataset

    from seas.models import load_model, load_tokenizer, write_manifest

    tmp = out.with_name(out.name + ".tmp")
    tok = load_tokenizer(parent, model_cfg.trust_remote_code)
    model = load_model(parent, model_cfg.dtype, model_cfg.trust_remote_code)
    if kind == "sft":
        data = Dataset.from_list(sft_rows(tok, [(r["prompt"], r["completion"]) for r in rows]))
    else:
        data = Dataset.from_list(dpo_rows(tok, rows))
    args = _common_args(cfg, tmp, seed)
    start = time.time()
    # DPO's reference log-probs are precomputed in the constructor, so it goes inside too
    with label_positions_only(enabled=not args.get("torch_compile")):
        if kind == "sft":
            from trl import SFTConfig, SFTTrainer

            trainer: Any = SFTTrainer(
                model=model, args=SFTConfig(**args), train_dataset=data, processing_class=tok,
                peft_config=_peft_config(cfg),
            )
        else:
            from trl import DPOConfig, DPOTrainer

            trainer = DPOTrainer(
                model=model, args=DPOConfig(beta=cfg.beta, precompute_ref_log_probs=cfg.precompute_ref_log_probs, **args),
                train_dataset=data, processing_class=tok,
                peft_config=_peft_config(cfg),
            )
        _check_dropped(trainer, len(rows), cfg.max_length, kind)
        result = trainer.train()
    stats = _stats(trainer, result, len(rows), time.time() - start)
    trainer.save_model(str(tmp))  # adapter only with LoRA; safetensors either way; gathers shards
    if trainer.accelerator.is_main_process:
        tok.save_pretrained(str(tmp))
        for junk in ("training_args.bin", "README.md"):
            if (tmp / junk).exists():
                os.remove(tmp / junk)
        stats["num_processes"] = trainer.accelerator.num_processes
        write_json(tmp / "train_stats.json", stats)
        # tmp and out are siblings, so a relative parent path is the same from either
        write_manifest(tmp, "adapter" if cfg.use_lora else "full", parent, trained=kind)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    trainer.accelerator.wait_for_everyone()
    del trainer, model
    gc.collect()
    return stats


LAUNCH_CONFIGS = {"deepspeed-zero3", "fsdp"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    kind: str,
    parent: str,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    rows: Sequence[dict[str, Any]],
    out: Path,
    seed: int,
) -> dict[str, Any]:
    """Run the training in ``cfg.num_processes`` processes under ``accelerate launch``."""
    import dataclasses
    import subprocess
    import sys

    from seas.io import read_json, write_jsonl

    job_dir = out.with_name(out.name + ".job")
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True)
    write_jsonl(job_dir / "rows.jsonl", rows)
    # the workers train in place; TRL's reference precompute does not run across processes
    one = dataclasses.replace(cfg, num_processes=1, precompute_ref_log_probs=False)
    write_json(job_dir / "job.json", {
        "kind": kind, "parent": parent, "model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(one),
        "rows": str(job_dir / "rows.jsonl"), "out": str(out), "seed": seed,
    })
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(cfg.num_processes),
           "--num_machines", "1", "--main_process_port", str(_free_port())]
    if cfg.accelerate_config:
        path = cfg.accelerate_config
        if path in LAUNCH_CONFIGS:
            path = str(Path(__file__).resolve().parent.parent / "launch" / f"{path}.yaml")
        if not os.path.isfile(path):
            raise ValueError(f"accelerate_config {cfg.accelerate_config!r}: no such file")
        cmd += ["--config_file", path]
    else:
        # torchrun-style launch; without CUDA each process falls back to the gloo backend on the CPU
        cmd += ["--multi_gpu"]
    cmd += ["-m", "seas.stages.train_worker", str(job_dir / "job.json")]
    log.info("launching: %s", " ".join(cmd))
    proc = subprocess.run(cmd, stdout=None, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"distributed {kind} training of {parent} failed (exit {proc.returncode}):\n{tail}")
    shutil.rmtree(job_dir, ignore_errors=True)
    return read_json(out / "train_stats.json")  # type: ignore[no-any-return]


def pointer(parent: str, out: Path, reason: str) -> None:
    """A checkpoint that is its parent unchanged (e.g. a round with no pairs to train on)."""
    from seas.models import write_manifest

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_manifest(tmp, "pointer", parent, reason=reason)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
