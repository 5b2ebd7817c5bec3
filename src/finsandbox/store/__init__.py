"""Persistence: engines, sessions, ORM models and migrations."""

from finsandbox.store.db import dispose_engines, get_engine, session_scope, upgrade

__all__ = ["dispose_engines", "get_engine", "session_scope", "upgrade"]
