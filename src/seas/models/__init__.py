"""Model references, the embedded default, and loading (see ``loading``)."""

from seas.models.loading import (
    EMBEDDED,
    generation_dtype,
    inference_device,
    load_for_inference,
    ModelError,
    describe,
    embedded_checkpoint,
    is_complete,
    load_model,
    load_tokenizer,
    write_manifest,
)

__all__ = [
    "EMBEDDED",
    "generation_dtype",
    "inference_device",
    "load_for_inference",
    "ModelError",
    "describe",
    "embedded_checkpoint",
    "is_complete",
    "load_model",
    "load_tokenizer",
    "write_manifest",
]
