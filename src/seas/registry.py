"""A tiny name -> factory registry, so that a new backend or judge is one file."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; modules register themselves on import.

    Entries are factories (not instances) so that heavy imports (torch models,
    HTTP clients) happen only when a component is actually used.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, **options: object) -> T:
        if name not in self._factories:
            raise ValueError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or '(none)'}"
            )
        try:
            return self._factories[name](**options)
        except TypeError as e:  # wrong option names are a user error, say which
            raise ValueError(f"bad options for {self.kind} {name!r}: {e}") from e
