"""What every CLI module shares: the consoles, the acting identity, and how tables print."""

from __future__ import annotations

import getpass
import os
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def actor() -> str:
    """Who the CLI acts as, for the ledger."""
    return os.environ.get("FINSANDBOX_ACTOR") or f"cli:{getpass.getuser()}"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A table whose cells wrap rather than truncate, so ids and hashes stay copyable."""
    out = Table(title=title)
    for c in columns:
        out.add_column(c, overflow="fold")
    for r in rows:
        out.add_row(*["" if v is None else str(v) for v in r])
    console.print(out)
