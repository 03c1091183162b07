"""Safety judges, chosen by name: ``make_judge("embedded")``.

Each judge lives in its own module and registers a factory with
``@JUDGES.register(name)``; modules are imported lazily by ``make_judge`` so that
a judge's heavy dependencies load only when it is used.
"""

from __future__ import annotations

import importlib

from seas.judges.base import LABELS, Judge, Judgement
from seas.registry import Registry

JUDGES: Registry[Judge] = Registry("judge")

# name -> module that registers it (imported on first use)
_MODULES = {
    "refusal": "seas.judges.refusal",
    "embedded": "seas.judges.embedded",
    "llama-guard": "seas.judges.llama_guard",
    "openai": "seas.judges.openai_judge",
    "prompted": "seas.judges.prompted",
}


def judge_names() -> list[str]:
    return sorted(_MODULES)


def make_judge(name: str, **options: object) -> Judge:
    """Build the judge registered as ``name`` with its options."""
    if name in _MODULES:
        importlib.import_module(_MODULES[name])
    elif name not in JUDGES.names():  # judges registered by user code at runtime are allowed
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(judge_names())}")
    return JUDGES.create(name, **options)


__all__ = ["JUDGES", "LABELS", "Judge", "Judgement", "judge_names", "make_judge"]
