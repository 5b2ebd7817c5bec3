"""Backends by name: the registry that turns an endpoint's `backend` and `config` into an instance."""

from __future__ import annotations

import json
import threading
from typing import Any

from pydantic import ValidationError

from finsandbox import registry
from finsandbox.errors import InvalidRequest
from finsandbox.gateway.backends.base import (
    Backend,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ToolCall,
    Usage,
    backend,
)


def backend_class(kind: str) -> type[Backend]:
    """The backend registered as `kind` (built-in or plugin); a ConfigError lists the known ones."""
    cls: type[Backend] = registry.backends.get(kind)
    return cls


def backend_names() -> list[str]:
    return registry.backends.names()


def validate_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """Check an endpoint's settings against its backend's schema; the message names the field."""
    if kind not in registry.backends:
        raise InvalidRequest(registry.backends.unknown(kind), param="backend")
    try:
        model = backend_class(kind).Config.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InvalidRequest(f"{kind} backend setting {where}: {first['msg']}", param=where) from None
    return model.model_dump(mode="json", exclude_none=True)


_instances: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(kind: str, config: dict[str, Any]) -> Backend:
    """A shared instance per (backend, settings), so the embedded model is loaded once per process."""
    cache_key = f"{kind}:{json.dumps(config, sort_keys=True)}"
    with _lock:
        backend = _instances.get(cache_key)
        if backend is None:
            cls = backend_class(kind)
            backend = cls(cls.Config.model_validate(config))
            _instances[cache_key] = backend
        return backend


async def close_backends() -> None:
    with _lock:
        backends = list(_instances.values())
        _instances.clear()
    for instance in backends:
        await instance.aclose()


__all__ = [
    "Backend",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ToolCall",
    "Usage",
    "backend",
    "backend_class",
    "backend_names",
    "close_backends",
    "get_backend",
    "validate_config",
]
