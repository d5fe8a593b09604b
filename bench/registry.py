"""Name-to-builder registries for methods, datasets, protocols and flow backends."""

from __future__ import annotations

import fnmatch
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised when a registry has no entry under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; show it as written
        return str(self.args[0])


class Registry(Generic[T]):
    """Map of names to builders, filled with the `register` decorator.

    Names are matched case-insensitively, and `_` and `-` are treated alike,
    so `convlstm_ae` finds `convlstm-ae`.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().lower().replace("_", "-")

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = self._key(name)
            if key in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        key = self._key(name)
        if key not in self._entries:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {valid}")
        return self._entries[key]

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return self._key(name) in self._entries
