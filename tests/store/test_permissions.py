"""The data directory and the SQLite database hold every prompt and the ledger: owner-only, always."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from finsandbox.config import Settings, get_settings
from finsandbox.store.db import dispose_engines, get_engine

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A permissive umask, as on many servers: our files must not depend on it."""
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "data" / "finsandbox"
    monkeypatch.setenv("FINSANDBOX_HOME", str(home))
    monkeypatch.delenv("FINSANDBOX_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    dispose_engines()
    get_settings.cache_clear()


def test_default_database_and_its_wal_files_are_owner_only(home: Path, loose_umask: None) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('HKID A123456(3)')"))
        db = home / "finsandbox.db"
        assert mode(home) == 0o700
        assert mode(db) == 0o600
        sidecars = [home / "finsandbox.db-wal", home / "finsandbox.db-shm"]
        assert any(p.exists() for p in sidecars)
        for path in sidecars:
            if path.exists():
                assert mode(path) == 0o600, path
    assert not any(mode(p) & 0o077 for p in home.iterdir())


def test_existing_world_readable_data_directory_and_database_are_tightened(
    home: Path, loose_umask: None
) -> None:
    home.mkdir(parents=True)
    os.chmod(home, 0o755)
    db = home / "finsandbox.db"
    db.touch()
    os.chmod(db, 0o644)
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    assert mode(home) == 0o700
    assert mode(db) == 0o600


def test_database_elsewhere_gets_a_private_new_directory(
    tmp_path: Path, home: Path, loose_umask: None
) -> None:
    url = f"sqlite:///{tmp_path / 'other' / 'nested' / 'sandbox.db'}"
    with get_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
    assert mode(tmp_path / "other") == 0o700
    assert mode(tmp_path / "other" / "nested") == 0o700
    assert mode(tmp_path / "other" / "nested" / "sandbox.db") == 0o600


def test_ensure_home_creates_and_tightens(tmp_path: Path, loose_umask: None) -> None:
    settings = Settings(home=tmp_path / "a" / "b")
    settings.ensure_home()
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    os.chmod(tmp_path / "a" / "b", 0o775)
    settings.ensure_home()
    assert mode(tmp_path / "a" / "b") == 0o700


def test_signing_key_and_its_directory_are_owner_only(home: Path, loose_umask: None) -> None:
    from finsandbox.supervision.keys import ensure_key, private_key_path

    ensure_key()
    assert mode(home) == 0o700
    assert mode(private_key_path().parent) == 0o700
    assert mode(private_key_path()) == 0o600
