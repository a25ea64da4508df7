"""A name -> object registry: the one mechanism behind models, datasets and augmentation presets."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names map to objects; a duplicate name is a programming error, an unknown one a user error
    (raised as `error`, listing the valid names)."""

    def __init__(self, kind: str, error: type[Exception], sort: bool = True):
        self.kind, self.error, self.sort = kind, error, sort
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@REGISTRY.register("name")` on the object to register."""
        def decorator(item: T) -> T:
            self.add(name, item)
            return item
        return decorator

    def get(self, name: str) -> T:
        if name not in self._items:
            raise self.error(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items) if self.sort else list(self._items)
