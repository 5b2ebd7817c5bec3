"""Name -> class registries for scorers and attacks.

Each registry imports every module of its package on first lookup, so adding a scorer or an
attack is one new file carrying the decorator, with no list to keep in step.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable
from hashlib import sha256
from typing import Generic, TypeVar

from finsandbox.errors import ConfigError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._items: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(cls: T) -> T:
            existing = self._items.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice ({existing!r} and {cls!r})")
            cls.name = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return decorate

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            importlib.import_module(f"{self.package}.{info.name}")

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def get(self, name: str) -> T:
        self._discover()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        return f"unknown {self.kind} '{name}' (known: {', '.join(self.names())})"


def rng_for(seed: int | str, *parts: str) -> random.Random:
    """A random source fixed by the seed and the parts (recipe, attack, case id), not by run order."""
    digest = sha256("\x1f".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
