"""Generation backends, chosen by name in the config (``generation.backend``).

A backend turns prompts into n sampled completions each. A prompt is either a raw
string (sent as-is) or a list of chat messages (rendered with the model's chat
template). Modules register with ``@BACKENDS.register(name)`` and are imported
only when used.

- ``hf``: transformers in this process (batched, length-sorted).
- ``openai``: any OpenAI-compatible endpoint (vLLM, TGI, ``transformers serve``, hosted).
- ``server``: seas starts a server for the checkpoint (vLLM on CUDA, else ``transformers
  serve``), talks to it as ``openai`` does, and stops it on ``close()``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, Sequence, Union, runtime_checkable

from seas.config import GenerationConfig
from seas.registry import Registry

Prompt = Union[str, list[dict[str, str]]]


@runtime_checkable
class Generator(Protocol):
    def generate(
        self, prompts: Sequence[Prompt], n: int, settings: GenerationConfig, seed: int, desc: str = ""
    ) -> list[list[str]]:
        """n completions for each prompt, in prompt order."""
        ...

    def close(self) -> None:
        """Free the model (or stop the server)."""
        ...


class BackendError(RuntimeError):
    """Generation failed for good (e.g. a server kept failing after retries); the message says
    where and why. Finished attack shards are on disk, so a re-run resumes after the fix."""


BACKENDS: Registry[Generator] = Registry("generation backend")
_MODULES = {
    "hf": "seas.backends.hf",
    "openai": "seas.backends.openai_backend",
    "server": "seas.backends.server",
}


def backend_names() -> list[str]:
    return sorted(_MODULES)


def make_generator(name: str, model_ref: str, **options: Any) -> Generator:
    if name not in _MODULES:
        raise ValueError(f"unknown generation backend {name!r}; known: {', '.join(backend_names())}")
    importlib.import_module(_MODULES[name])
    return BACKENDS.create(name, model_ref=model_ref, **options)


__all__ = ["BACKENDS", "BackendError", "Generator", "Prompt", "backend_names", "make_generator"]
