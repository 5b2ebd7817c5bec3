"""Executors by name: `local` (default) and `ray`."""

from __future__ import annotations

from finsandbox.errors import ConfigError
from finsandbox.evals.executors.base import Executor


def get_executor(name: str, concurrency: int, address: str | None = None) -> Executor:
    if name == "local":
        from finsandbox.evals.executors.local import LocalExecutor

        return LocalExecutor(concurrency)
    if name == "ray":
        from finsandbox.evals.executors.ray import RayExecutor

        return RayExecutor(concurrency, address=address)
    raise ConfigError(f"unknown executor {name!r}; use local or ray")


__all__ = ["Executor", "get_executor"]
