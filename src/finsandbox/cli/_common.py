"""What every command module shares: the consoles, the acting identity, sessions and how output prints.

Commands are thin: they parse options, call one service, and print with these helpers. Nothing here
knows about any service's rules.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from finsandbox.errors import InvalidRequest

console = Console()
err = Console(stderr=True)

AsUser = Annotated[
    str | None,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
AsUserRequired = Annotated[
    str,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def group(help: str) -> typer.Typer:
    """A command group that shows its help when called bare."""
    return typer.Typer(help=help, no_args_is_help=True)


def actor() -> str:
    """Who the CLI acts as, for the ledger."""
    return os.environ.get("FINSANDBOX_ACTOR") or f"cli:{getpass.getuser()}"


@contextmanager
def open_session(write: bool = True) -> Iterator[Session]:
    """A session on a database migrated to the newest schema (the CLI may be the first to touch it)."""
    from finsandbox.store import session_scope, upgrade

    upgrade()
    with session_scope(write=write) as s:
        yield s


def user_of(session: Session, email: str | None) -> Any:
    """The user named by `--as`, or None for the local operator."""
    if not email:
        return None
    from finsandbox.access import get_user

    return get_user(session, email)


def actor_of(user: Any) -> str:
    """The ledger actor for a command run as `user` (or as the local operator)."""
    return f"user:{user.email}" if user is not None else actor()


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A table whose cells wrap rather than truncate, so ids and hashes stay copyable."""
    out = Table(title=title)
    for c in columns:
        out.add_column(c, overflow="fold")
    for r in rows:
        out.add_row(*["" if v is None else str(v) for v in r])
    console.print(out)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def interval(ci: list[float] | None) -> str:
    return "-" if not ci else f"{100 * ci[0]:.0f}-{100 * ci[1]:.0f}%"


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{option} must be a date like 2026-12-31, not {value!r}", param=option
        ) from None
