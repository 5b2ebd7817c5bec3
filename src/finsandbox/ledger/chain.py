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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from finsandbox.store.models import LedgerEntry

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


def _lock_head(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # SQLite: the caller opened the transaction with BEGIN IMMEDIATE (session_scope(write=True)),
    # which already excludes every other writer. Were it forgotten, the primary key on seq and
    # the unique prev_hash still refuse a fork; the late writer gets an error, not a branch.


def head(session: Session) -> LedgerEntry | None:
    return session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)).first()


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
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    body = canonical(payload)
    digest = sha256_hex(body)
    entry = LedgerEntry(
        seq=seq,
        ts=ts,
        actor=actor,
        workspace_id=workspace_id,
        kind=kind,
        payload=body,
        payload_digest=digest,
        prev_hash=prev,
    )
    entry.entry_hash = hash_of(entry)
    session.add(entry)
    session.flush()
    return entry
