"""Model references, the embedded default, and loading (see ``loading``)."""

from seas.models.loading import (
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
    "EMBEDDED",
    "ModelError",
    "describe",
    "embedded_checkpoint",
    "is_complete",
    "load_model",
    "load_tokenizer",
    "write_manifest",
]
