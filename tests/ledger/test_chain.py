"""The ledger chain: appends link up, and each kind of tampering is detected and named."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os

import pytest
from sqlalchemy import delete, select, text, update

from finsandbox import ledger
from finsandbox.ledger.chain import entry_hash, sha256_hex
from finsandbox.store import session_scope
from finsandbox.store.models import LedgerEntry


def _append(n: int, prefix: str = "t") -> None:
    for i in range(n):
        with session_scope(write=True) as s:
            ledger.append(s, actor="tester", kind="test.event", payload={"i": i, "who": prefix})


def _verify() -> ledger.Report:
    with session_scope() as s:
        return ledger.verify(s)


def test_appends_form_one_verified_chain(db: str) -> None:
    _append(5)
    report = _verify()
    assert report.ok
    assert report.entries == 5 and report.head_seq == 5
    with session_scope() as s:
        entries = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
    assert entries[0].prev_hash == ledger.GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))


def test_edited_payload_is_named(db: str) -> None:
    _append(5)
    with session_scope(write=True) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 3).values(payload='{"i":99,"who":"t"}'))
    report = _verify()
    assert not report.ok
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (3, "edited")
    assert "payload" in report.first.detail


def test_edited_field_with_recomputed_digest_is_named(db: str) -> None:
    _append(5)
    body = '{"i":2,"who":"mallory"}'
    with session_scope(write=True) as s:
        s.execute(
            update(LedgerEntry)
            .where(LedgerEntry.seq == 3)
            .values(payload=body, payload_digest=sha256_hex(body))
        )
    report = _verify()
    assert report.first is not None and (report.first.seq, report.first.kind) == (3, "edited")


def test_edited_actor_is_named(db: str) -> None:
    _append(4)
    with session_scope(write=True) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(actor="someone-else"))
    report = _verify()
    assert report.first is not None and (report.first.seq, report.first.kind) == (2, "edited")


def test_deleted_entry_is_named(db: str) -> None:
    _append(5)
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq == 3))
    report = _verify()
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (4, "deleted")
    assert "entry 3" in report.first.detail


def _shift_after(s, seq: int) -> None:  # type: ignore[no-untyped-def]
    """Move entries after `seq` up by one, highest first, to make room as an attacker would."""
    for row in sorted(s.scalars(select(LedgerEntry.seq).where(LedgerEntry.seq > seq)), reverse=True):
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == row).values(seq=row + 1))


def test_inserted_entry_is_named(db: str) -> None:
    _append(5)
    with session_scope(write=True) as s:
        before = s.get(LedgerEntry, 2)
        assert before is not None
        _shift_after(s, 2)
        body = '{"forged":true}'
        forged = LedgerEntry(
            seq=3,
            ts=before.ts,
            actor="mallory",
            workspace_id=None,
            kind="test.event",
            payload=body,
            payload_digest=sha256_hex(body),
            prev_hash="f" * 64,
        )
        forged.entry_hash = entry_hash(
            seq=3,
            ts=forged.ts,
            actor=forged.actor,
            workspace_id=None,
            kind=forged.kind,
            payload_digest=forged.payload_digest,
            prev_hash=forged.prev_hash,
        )
        s.add(forged)
    report = _verify()
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (3, "inserted")


def test_reordered_entries_are_named(db: str) -> None:
    _append(5)
    with session_scope(write=True) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(seq=1000))
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 3).values(seq=2))
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 1000).values(seq=3))
    report = _verify()
    assert report.first is not None
    assert (report.first.seq, report.first.kind) == (2, "reordered")
    assert "written as entry 3" in report.first.detail


def test_truncation_is_caught_only_with_an_anchor(db: str) -> None:
    _append(5)
    with session_scope() as s:
        head = ledger.head(s)
        assert head is not None
        anchor = (head.seq, head.entry_hash)
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq == 5))
    assert _verify().ok  # a shorter chain is still a chain...
    with session_scope() as s:
        report = ledger.verify(s, anchor=anchor)
    assert report.first is not None and report.first.kind == "truncated"  # ...but not the one anchored


def test_payload_is_canonical_json(db: str) -> None:
    with session_scope(write=True) as s:
        entry = ledger.append(s, actor="a", kind="k", payload={"b": 1, "a": "é"})
        assert entry.payload == '{"a":"é","b":1}'
        assert entry.payload_digest == sha256_hex(entry.payload)


def _worker(url: str, n: int, tag: str) -> None:
    os.environ["FINSANDBOX_DATABASE_URL"] = url
    from finsandbox.config import get_settings

    get_settings.cache_clear()
    _append(n, tag)


def test_concurrent_appends_from_processes_never_fork(db: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(db, 25, f"p{i}")) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    report = _verify()
    assert report.ok, report.first
    assert report.entries == 100 and report.head_seq == 100


def test_a_fork_is_refused_by_the_database(db: str) -> None:
    """Two entries claiming the same predecessor cannot both be stored."""
    _append(2)
    with pytest.raises(Exception), session_scope(write=True) as s:  # noqa: B017 - IntegrityError by dialect
        first = s.get(LedgerEntry, 1)
        assert first is not None
        s.execute(
            text(
                "INSERT INTO ledger_entries (seq, ts, actor, workspace_id, kind, payload, payload_digest, "
                "prev_hash, entry_hash) VALUES (3, 'x', 'm', NULL, 'k', '{}', 'd', :prev, :h)"
            ),
            {"prev": first.entry_hash, "h": "e" * 64},
        )
    assert _verify().ok
