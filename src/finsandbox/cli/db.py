"""`finsandbox db`: the database schema."""

from __future__ import annotations

from finsandbox.cli._common import (
    console,
    group,
)

app = group("The database schema.")


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    from finsandbox.config import get_settings
    from finsandbox.store import upgrade

    upgrade()
    console.print(f"database is up to date: {_safe_url(get_settings().resolved_database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
