"""One small generic registry, shared by tasks and datasets."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name; the message lists what exists."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Named items of one kind; with `base_cls`, each must be an instance or a subclass
    of it (a registry of classes or of objects)."""

    def __init__(self, kind: str, base_cls: type | None = None) -> None:
        self.kind = kind
        self.base_cls = base_cls
        self._items: dict[str, T] = {}

    def check(self, item: object) -> None:
        """Refuse an item that is not a `base_cls` (nor a subclass of it)."""
        base = self.base_cls
        if base is None or isinstance(item, base):
            return
        if isinstance(item, type) and issubclass(item, base):
            return
        raise RegistryError(
            f"registering a {self.kind} needs a {base.__name__} or a subclass of it, got {item!r}"
        )

    def add(self, name: str, item: T) -> T:
        self.check(item)
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and self._items[name] is not item:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered by {_where(self._items[name])}; "
                f"refusing to replace it with {_where(item)}"
            )
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        def register(item: T) -> T:
            return self.add(name, item)

        return register

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._items, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._items))}.{hint}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))


def _where(item: object) -> str:
    return f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', item)!s}"
