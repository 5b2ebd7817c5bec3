"""What the benchmarks share: a throw-away database and a workspace whose endpoint is the stub."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(kind: str, home: Path) -> Iterator[str]:
    """A fresh database URL for this run; a PostgreSQL database is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'bench.db'}"
        return
    import psycopg

    base_url = os.environ.get("FINSANDBOX_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    admin = base_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"finsandbox_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base_url.rpartition('/')[0]}/{name}"
    finally:
        from finsandbox.store import dispose_engines

        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_up_workspace(upstream_url: str, *, key: bool = False) -> str | None:
    """A bank and a workspace with an `openai` endpoint at the stub; with `key`, a key's secret."""
    from finsandbox.access import create_institution, create_key
    from finsandbox.programme import add_endpoint, create_workspace
    from finsandbox.store import session_scope, upgrade

    upgrade()
    with session_scope(write=True) as s:
        bank = create_institution(s, name="Bench Bank", kind="bank", actor="bench")
        ws = create_workspace(
            s, slug="bench", name="bench", theme="customer_service", bank=bank, actor="bench"
        )
        add_endpoint(
            s, ws, name="stub", backend="openai",
            config={"base_url": f"{upstream_url}/v1", "model": "stub-model"}, actor="bench",
        )  # fmt: skip
        if key:
            return create_key(s, ws, name="bench", actor="bench", rpm_limit=10_000_000).secret
        return None
