"""A named registry per kind (datasets, models, losses, strategies, metrics, launchers)
and ``Section``, the base of every registry entry's config (plugin configs live beside
their plugins)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from ganbench.errors import UserError

T = TypeVar("T")


class Section(BaseModel):
    """A validated, immutable piece of a suite (a run, a dataset, a model ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class Registry(Generic[T]):
    """Maps lower-case names to classes; refuses a taken name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def register(self, name: str, origin: str = "built-in") -> Callable[[T], T]:
        """``origin``: where the entry comes from (``built-in``, or a plugin's
        distribution and version)."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            self._origins[name] = origin
            return entry

        return add

    def origin(self, name: str) -> str:
        return self._origins.get(name, "built-in")

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(
                f"unknown {self.kind} {name!r} (choose: {', '.join(self.names())})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def values(self) -> list[T]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
