"""The judge interface: (prompt, response) -> safe / unsafe / unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

LABELS = ("safe", "unsafe", "unknown")


@dataclass(frozen=True)
class Judgement:
    """One verdict. ``unknown`` means the judge could not decide (unparseable
    output, error); it is counted and reported, never treated as safe."""

    label: str
    score: float | None = None  # probability of unsafe, where the judge has one
    categories: tuple[str, ...] = field(default_factory=tuple)
    raw: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"judgement label must be one of {LABELS}, got {self.label!r}")


@runtime_checkable
class Judge(Protocol):
    """Labels a batch of (prompt, response) pairs, one Judgement per pair, in order."""

    name: str

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Judgement]: ...
