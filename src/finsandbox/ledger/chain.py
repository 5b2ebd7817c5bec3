"""Appending to the hash chain.

Each entry's hash covers its sequence number, time, actor, workspace, kind, the digest of
its payload and the previous entry's hash; editing, deleting, inserting or reordering any
entry therefore breaks a link that `verify` can name. Appends are serialised across
threads and processes: BEGIN IMMEDIATE on SQLite, a transaction-scoped advisory lock on
PostgreSQL; the unique constraint on prev_hash is the last line against a fork.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from finsandbox.store.models import LedgerEntry
from finsandbox.store.prepared import Prepared

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x46534C44  # "FSLD"


def canonical(obj: Any) -> str:
    """The one JSON serialisation used for digests: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def entry_hash(
    *, seq: int, ts: str, actor: str, workspace_id: str | None, kind: str, payload_digest: str, prev_hash: str
) -> str:
    return sha256_hex(
        canonical(
            {
                "seq": seq,
                "ts": ts,
                "actor": actor,
                "workspace_id": workspace_id,
                "kind": kind,
                "payload_digest": payload_digest,
                "prev_hash": prev_hash,
            }
        )
    )


def hash_of(entry: LedgerEntry, *, seq: int | None = None) -> str:
    """Recompute an entry's hash from its stored fields (optionally at another position)."""
    return entry_hash(
        seq=entry.seq if seq is None else seq,
        ts=entry.ts,
        actor=entry.actor,
        workspace_id=entry.workspace_id,
        kind=entry.kind,
        payload_digest=entry.payload_digest,
        prev_hash=entry.prev_hash,
    )


_PG_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def _lock_head(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(_PG_LOCK, {"k": _PG_LOCK_KEY})
    # SQLite: the caller opened the transaction with BEGIN IMMEDIATE (session_scope(write=True)),
    # which already excludes every other writer. Were it forgotten, the primary key on seq and
    # the unique prev_hash still refuse a fork; the late writer gets an error, not a branch.


def head(session: Session) -> LedgerEntry | None:
    return session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)).first()


@dataclass(frozen=True)
class Head:
    """The newest entry's sequence number and hash: all that appending after it needs."""

    seq: int
    entry_hash: str


# The gateway's group commit runs these for every batch: compiled once, run on the driver (prepared.py).
_HEAD = Prepared(select(LedgerEntry.seq, LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1))
_INSERT = Prepared(LedgerEntry.__table__.insert())
_LOCK = Prepared(_PG_LOCK)


def read_head(conn: Connection) -> Head:
    """Lock the chain and read its head on a Core connection inside a write transaction.

    PostgreSQL: the same advisory lock as `append`; SQLite: the transaction must have begun
    with BEGIN IMMEDIATE, which already excludes every other writer.
    """
    if conn.dialect.name == "postgresql":
        _LOCK.send(conn, {"k": _PG_LOCK_KEY})
    row = _HEAD.run(conn).first()
    return Head(0, GENESIS) if row is None else Head(row[0], row[1])


def _fields(
    seq: int, prev: str, *, actor: str, kind: str, payload: dict[str, Any], workspace_id: str | None
) -> dict[str, Any]:
    body = canonical(payload)
    fields: dict[str, Any] = {
        "seq": seq,
        "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "workspace_id": workspace_id,
        "kind": kind,
        "payload": body,
        "payload_digest": sha256_hex(body),
        "prev_hash": prev,
    }
    fields["entry_hash"] = entry_hash(
        seq=seq,
        ts=fields["ts"],
        actor=actor,
        workspace_id=workspace_id,
        kind=kind,
        payload_digest=fields["payload_digest"],
        prev_hash=prev,
    )
    return fields


def append_after(
    conn: Connection,
    head: Head,
    *,
    actor: str,
    kind: str,
    payload: dict[str, Any],
    workspace_id: str | None = None,
) -> Head:
    """Insert the entry that follows `head` (from `read_head` in this transaction); returns the new head.

    The ORM-free path for the gateway's group commit: one head read serves a whole batch.
    """
    fields = _fields(
        head.seq + 1, head.entry_hash, actor=actor, kind=kind, payload=payload, workspace_id=workspace_id
    )
    _INSERT.send(conn, fields)
    return Head(fields["seq"], fields["entry_hash"])


def append(
    session: Session,
    *,
    actor: str,
    kind: str,
    payload: dict[str, Any],
    workspace_id: str | None = None,
) -> LedgerEntry:
    """Add one entry in the caller's transaction; it becomes visible when the caller commits.

    The caller must not have read anything yet on SQLite (the write lock is taken at BEGIN),
    or must have opened the session with `session_scope(write=True)`.
    """
    _lock_head(session)
    last = head(session)
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.entry_hash
    entry = LedgerEntry(
        **_fields(seq, prev, actor=actor, kind=kind, payload=payload, workspace_id=workspace_id)
    )
    session.add(entry)
    session.flush()
    return entry
