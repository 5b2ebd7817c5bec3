"""`finsandbox ledger`: verify, anchor and read the tamper-evident audit ledger."""

from __future__ import annotations

from pathlib import Path
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
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="folder of signed checkpoints (default: the data directory's checkpoints/)"),
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="the programme's public key (default: the one in the data directory)")
    ] = None,
) -> None:
    """Recompute the chain from entry 1 and check it against every signed checkpoint; exit 1 naming the
    first entry edited, deleted, inserted or reordered, or the checkpoint it was truncated or rewritten
    since."""
    from finsandbox import ledger
    from finsandbox.ledger.checkpoints import directory
    from finsandbox.supervision import keys

    anchored: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise FinsandboxError("--anchor must look like SEQ:HASH (a number, a colon, 64 hex digits)")
        anchored = (int(seq), digest)
    folder = checkpoints or directory()
    if not folder.is_dir():
        raise FinsandboxError(f"no checkpoint folder {folder}")
    found = ledger.load_all(folder)
    key = keys.load_public_key(public_key) if public_key else None
    if key is None and found:
        if not keys.public_key_path().exists():
            raise FinsandboxError("checkpoints exist but no public key to check them; pass --public-key")
        key = keys.load_public_key(keys.public_key_path())
    with open_session(write=False) as s:
        report = ledger.verify(s, anchor=anchored, checkpoints=found, public_key=key)
    if report.ok and report.entries == 0 and not found:
        err.print("ledger EMPTY: no entries and no signed checkpoint to vouch for it")
        raise typer.Exit(1)
    if report.ok:
        console.print(f"ledger OK: {report.entries} entries, head {report.head_seq}:{report.head_hash}")
        if report.checkpoint is not None:
            console.print(
                f"  matches {report.checkpoints} signed checkpoint(s); latest: {report.checkpoint.label}"
            )
        else:
            console.print(
                "  no signed checkpoint yet: run `finsandbox ledger checkpoint` and keep a copy elsewhere"
            )
        return
    err.print(f"ledger BROKEN: {report.first}")
    for p in report.problems[1:10]:
        err.print(f"  also: {p}")
    raise typer.Exit(1)


@app.command("checkpoint")
def ledger_checkpoint() -> None:
    """Sign the ledger's head (size, Merkle root, time) with the programme's key and keep it outside the
    database; refused, naming the checkpoint, if the ledger was rewritten since an earlier one."""
    from finsandbox import ledger
    from finsandbox.ledger.checkpoints import directory, receipt
    from finsandbox.supervision import keys

    with open_session(write=False) as s:
        cp = ledger.checkpoint(s, keys.ensure_key())
    console.print(f"{cp.label} signed by key {cp.key_id}, kept in {directory()}")
    got = receipt(directory(), cp)
    if got is not None:
        if got.get("ok"):
            console.print(f"posted to the witness {got['url']}: HTTP {got['status']}", soft_wrap=True)
        else:
            err.print(
                f"not witnessed ({got['url']}): {got['error']}; it is posted again with the next checkpoint",
                soft_wrap=True,
            )


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
