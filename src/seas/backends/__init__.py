"""Generation backends, chosen by name in the config (``generation.backend``).

A backend turns prompts into n sampled completions each. A prompt is either a raw
string (sent as-is) or a list of chat messages (rendered with the model's chat
template). Modules register with ``@BACKENDS.register(name)`` and are imported
only when used.
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


BACKENDS: Registry[Generator] = Registry("generation backend")
_MODULES = {"hf": "seas.backends.hf"}


def backend_names() -> list[str]:
    return sorted(_MODULES)


def make_generator(name: str, model_ref: str, **options: Any) -> Generator:
    if name not in _MODULES:
        raise ValueError(f"unknown generation backend {name!r}; known: {', '.join(backend_names())}")
    importlib.import_module(_MODULES[name])
    return BACKENDS.create(name, model_ref=model_ref, **options)


__all__ = ["BACKENDS", "Generator", "Prompt", "backend_names", "make_generator"]
