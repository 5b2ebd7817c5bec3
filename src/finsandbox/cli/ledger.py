"""`finsandbox ledger`: verify, anchor and read the tamper-evident audit ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from finsandbox.cli._common import (
    console,
    err,
    group,
    open_session,
    table,
)
from finsandbox.errors import FinsandboxError

app = group("The tamper-evident audit ledger.")


@app.command("verify")
def ledger_verify(
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH recorded earlier; detects deletion of the newest entries")
    ] = None,
) -> None:
    """Recompute the chain; exit 1 naming the first entry that was edited, deleted, inserted or reordered."""
    from finsandbox import ledger

    anchored: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise FinsandboxError("--anchor must look like SEQ:HASH (a number, a colon, 64 hex digits)")
        anchored = (int(seq), digest)
    with open_session(write=False) as s:
        report = ledger.verify(s, anchor=anchored)
    if report.ok:
        console.print(f"ledger OK: {report.entries} entries, head {report.head_seq}:{report.head_hash}")
        return
    err.print(f"ledger BROKEN: {report.first}")
    for p in report.problems[1:10]:
        err.print(f"  also: {p}")
    raise typer.Exit(1)


@app.command("head")
def ledger_head() -> None:
    """Print SEQ:HASH of the newest entry (keep it somewhere safe to anchor later verifications)."""
    from finsandbox import ledger

    with open_session(write=False) as s:
        entry = ledger.head(s)
    print(f"{entry.seq}:{entry.entry_hash}" if entry else f"0:{ledger.GENESIS}")


@app.command("show")
def ledger_show(
    last: Annotated[int, typer.Option(help="how many of the newest entries")] = 20,
    kind: Annotated[str | None, typer.Option(help="only entries of this kind, e.g. gateway.chat")] = None,
) -> None:
    from sqlalchemy import select

    from finsandbox.store.models import LedgerEntry

    with open_session(write=False) as s:
        q = select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(last)
        if kind:
            q = q.where(LedgerEntry.kind == kind)
        rows = list(s.scalars(q))
    table(
        "ledger",
        ["seq", "time", "actor", "kind", "payload", "hash"],
        [[e.seq, e.ts, e.actor, e.kind, e.payload[:80], e.entry_hash[:16]] for e in reversed(rows)],
    )
