"""Shared fixtures: one database per test run (SQLite, or PostgreSQL with FINSANDBOX_TEST_DB=postgresql),
emptied after every test that uses it, and helpers that build a small programme.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_DB = os.environ.get("FINSANDBOX_TEST_DB", "sqlite")
POSTGRES_URL = os.environ.get(
    "FINSANDBOX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _native_model_code_stays_out_of_the_test_process() -> Iterator[None]:
    """llama.cpp runs only in child processes (model workers, doctor's probes), so a native crash
    fails one test with a message instead of killing the whole run; a test that loads it here fails."""
    yield
    assert "llama_cpp" not in sys.modules, "llama.cpp was loaded into the test process; use a worker process"


def _postgres_admin_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(_postgres_admin_dsn(), connect_timeout=3):
            return True
    except Exception:
        return False


def _reset_process_state() -> None:
    from finsandbox.config import get_settings
    from finsandbox.gateway import service
    from finsandbox.store import dispose_engines

    get_settings.cache_clear()
    service.quotas.cache_clear()
    dispose_engines()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database for the whole run; its URL is exported so servers we start use it."""
    home = tmp_path_factory.mktemp("finsandbox-home")
    os.environ["FINSANDBOX_HOME"] = str(home)
    created: str | None = None
    if TEST_DB == "postgresql":
        if not postgres_available():
            pytest.skip("PostgreSQL is not reachable; set FINSANDBOX_TEST_POSTGRES_URL")
        import psycopg

        created = f"finsandbox_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_postgres_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{created}"')
        base, _, _ = POSTGRES_URL.rpartition("/")
        url = f"{base}/{created}"
    else:
        url = f"sqlite:///{Path(home) / 'test.db'}"
    os.environ["FINSANDBOX_DATABASE_URL"] = url
    _reset_process_state()
    from finsandbox.store import upgrade

    upgrade(url)
    yield url
    _reset_process_state()
    if created:
        import psycopg

        with psycopg.connect(_postgres_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


def empty_tables(url: str) -> None:
    from sqlalchemy import text

    from finsandbox.store import get_engine
    from finsandbox.store.models import Base

    engine = get_engine(url)
    home = os.environ.get("FINSANDBOX_HOME")
    if home:  # signed checkpoints vouch for this database's ledger: they go with it
        for path in (Path(home) / "checkpoints").glob("*.json"):
            path.unlink()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    """The database URL, with every table emptied after the test."""
    yield database_url
    empty_tables(database_url)


@dataclass
class Programme:
    """A bank workspace with one member, one endpoint and one key."""

    workspace_id: str
    workspace: str
    endpoint: str
    secret: str
    key_prefix: str
    member_email: str


def make_programme(
    *,
    slug: str = "ws-alpha",
    bank: str = "Alpha Bank",
    endpoint: str = "smollm2",
    backend: str = "llamacpp",
    config: dict | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    budget: int | None = None,
) -> Programme:
    """Create (or extend) a programme in the test database; idempotent for institutions."""
    from sqlalchemy import select

    from finsandbox.access import create_institution, create_key, create_user
    from finsandbox.programme import add_endpoint, add_member, create_workspace
    from finsandbox.store import session_scope
    from finsandbox.store.models import Institution

    with session_scope(write=True) as s:
        inst = s.scalars(select(Institution).where(Institution.name == bank)).first()
        inst = inst or create_institution(s, name=bank, kind="bank", actor="test")
        ws = create_workspace(s, slug=slug, name=slug, theme="customer_service", bank=inst, actor="test")
        email = f"dev@{slug}.example.com"
        user = create_user(
            s, email=email, display_name="Dev", institution=inst, password="correct-horse-1", actor="test"
        )
        add_member(s, ws, user, role="owner", actor="test")
        add_endpoint(s, ws, name=endpoint, backend=backend, config=config or {}, actor="test")
        new = create_key(s, ws, name="test", actor="test", rpm_limit=rpm, tpm_limit=tpm, token_budget=budget)
        return Programme(
            workspace_id=ws.id,
            workspace=slug,
            endpoint=endpoint,
            secret=new.secret,
            key_prefix=new.key.prefix,
            member_email=email,
        )


@pytest.fixture
def programme(db: str) -> Programme:
    return make_programme()
