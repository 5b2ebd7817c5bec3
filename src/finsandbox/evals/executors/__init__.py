"""Executors by name: `local` (asyncio, default), `ray` (a Ray cluster), and any plugin's."""

from __future__ import annotations

from finsandbox import registry
from finsandbox.evals.executors.base import Executor, executor


def get_executor(name: str, concurrency: int, address: str | None = None) -> Executor:
    """An executor by name; an unknown name is a ConfigError listing the known ones."""
    cls: type[Executor] = registry.executors.get(name)
    return cls(concurrency, address=address)


__all__ = ["Executor", "executor", "get_executor"]
