"""Model references, the embedded default, and loading (see ``loading``)."""

from seas.models.loading import (
    load_for_inference,
    EMBEDDED,
    ModelError,
    describe,
    embedded_checkpoint,
    is_complete,
    load_model,
    load_tokenizer,
    write_manifest,
)

__all__ = [
    "load_for_inference",
    "EMBEDDED",
    "ModelError",
    "describe",
    "embedded_checkpoint",
    "is_complete",
    "load_model",
    "load_tokenizer",
    "write_manifest",
]
