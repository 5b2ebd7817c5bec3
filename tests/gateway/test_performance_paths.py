"""The gateway's fast paths keep the slow paths' promises.

Group commit (gateway/writer.py) batches many calls into one transaction: each caller must
still hear back only after its own records are committed, a refused or failing call must not
take its batch down, and a caller that gives up before its turn must leave nothing behind.
Admission reads the key afresh in its transaction, so a revocation, an expiry or a budget cut
applies to the very next call.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import OperationalError

from finsandbox.config import get_settings
from finsandbox.errors import AuthenticationFailed, QuotaExceeded
from finsandbox.gateway import service
from finsandbox.gateway import writer as writer_module
from finsandbox.gateway.metering import CallRecord, RecordCall
from finsandbox.gateway.service import AdmitCall
from finsandbox.gateway.writer import Job, writer
from finsandbox.ledger.chain import Head, append_after
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, QuotaWindow
from tests.gateway.gateway_support import assert_ledger_consistent, revoke, usage_rows

ENDPOINT = "remote"


@pytest.fixture
def prog(db: str, make_programme: Any) -> Any:
    config = {"base_url": "http://127.0.0.1:9/v1", "model": "stub-model"}
    return make_programme(endpoint=ENDPOINT, backend="openai", config=config)


class Gate(Job[None]):
    """Holds the writer inside a transaction until released, so the jobs sent meanwhile form one batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def rows(self, conn: Connection) -> None:
        self.entered.set()
        assert self.release.wait(30)

    def result(self) -> None:
        return None


class Failing(Job[int]):
    """Writes a ledger entry, then fails: its batch must roll back and the others commit alone."""

    needs_ledger = True

    def ledger(self, conn: Connection, head: Head) -> Head:
        append_after(conn, head, actor="test", kind="test.failing", payload={})
        raise RuntimeError("this call's record cannot be written")

    def result(self) -> int:
        return 0


def held_writer() -> tuple[Gate, Future[None]]:
    gate = Gate()
    future = writer().submit(gate)
    assert gate.entered.wait(10)
    return gate, future


def call_record(prog: Any, admitted: service.Admitted, n: int) -> CallRecord:
    return CallRecord(
        workspace_id=admitted.workspace_id,
        key_id=admitted.key_id,
        key_prefix=admitted.key_prefix,
        endpoint=ENDPOINT,
        backend="openai",
        model="stub-model",
        trial_id=None,
        stream=False,
        status="ok",
        prompt_tokens=3,
        completion_tokens=n,
        extra={"completion": f"answer {n}"},
    )


def admit(prog: Any) -> service.Admitted:
    return writer().submit(AdmitCall(prog.secret, ENDPOINT, None, None, None)).result(10)


def counted_requests(s: Any, key_id: str) -> int:
    return int(s.scalar(select(func.sum(QuotaWindow.requests)).where(QuotaWindow.key_id == key_id)))


def committed(seq: int) -> bool:
    """Whether another connection sees the entry and its usage row (that is, it is committed)."""
    from finsandbox.store.models import UsageRecord

    with session_scope() as s:
        entry = s.get(LedgerEntry, seq)
        usage = s.scalar(select(func.count()).select_from(UsageRecord).where(UsageRecord.ledger_seq == seq))
        return entry is not None and usage == 1


def test_batched_calls_are_acknowledged_only_once_committed(prog: Any) -> None:
    admitted = admit(prog)
    w = writer()
    gate, gate_done = held_writer()
    transactions, jobs = w.transactions, w.jobs
    seen: dict[int, bool] = {}

    def on_done(future: Future[int]) -> None:
        seen[future.result()] = committed(future.result())

    futures = [w.submit(RecordCall(call_record(prog, admitted, n), service.quotas())) for n in range(20)]
    for future in futures:
        future.add_done_callback(on_done)
    assert not any(f.done() for f in futures)  # nothing is answered while the batch is open
    gate.release.set()
    gate_done.result(10)
    seqs = [f.result(10) for f in futures]
    deadline = time.monotonic() + 10
    while len(seen) < len(futures) and time.monotonic() < deadline:  # callbacks run after result()
        time.sleep(0.01)

    assert seqs == sorted(seqs) and len(set(seqs)) == 20  # queue order is ledger order
    assert seen == dict.fromkeys(seqs, True)  # each caller resumed after its record was visible
    assert w.jobs - jobs == 21 and w.transactions - transactions == 2  # the gate, then one batch
    assert_ledger_consistent()
    with session_scope() as s:
        used = s.scalar(select(ApiKey.tokens_used).where(ApiKey.id == admitted.key_id))
    assert used == sum(3 + n for n in range(20))


def test_a_refused_or_failing_call_does_not_fail_its_batch(prog: Any) -> None:
    admitted = admit(prog)
    w = writer()
    gate, gate_done = held_writer()
    good = [w.submit(RecordCall(call_record(prog, admitted, n), service.quotas())) for n in range(3)]
    bad = w.submit(Failing())
    refused = w.submit(AdmitCall(prog.secret + "x", ENDPOINT, None, None, None))
    more = [w.submit(RecordCall(call_record(prog, admitted, n), service.quotas())) for n in range(3, 5)]
    second = w.submit(AdmitCall(prog.secret, ENDPOINT, None, None, None))
    gate.release.set()
    gate_done.result(10)

    seqs = [f.result(10) for f in good + more]
    assert len(set(seqs)) == 5 and all(committed(seq) for seq in seqs)
    with pytest.raises(RuntimeError, match="cannot be written"):
        bad.result(10)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        refused.result(10)
    assert second.result(10).key_id == admitted.key_id
    with session_scope() as s:
        assert not s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "test.failing")).all()
        requests = s.scalar(
            select(func.sum(QuotaWindow.requests)).where(QuotaWindow.key_id == admitted.key_id)
        )
    assert requests == 2  # the first admission and `second`; the refused one counted nothing
    assert len(usage_rows()) == 5
    assert_ledger_consistent()


def test_a_caller_that_gives_up_before_its_turn_leaves_nothing(prog: Any) -> None:
    admitted = admit(prog)

    async def give_up() -> None:
        task = asyncio.ensure_future(service.admit(prog.secret, ENDPOINT, None))
        await asyncio.sleep(0.05)  # queued behind the gate
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    gate, gate_done = held_writer()
    try:
        asyncio.run(give_up())
    finally:
        gate.release.set()
    gate_done.result(10)
    admit(prog)  # the writer goes on
    with session_scope() as s:
        requests = s.scalar(
            select(func.sum(QuotaWindow.requests)).where(QuotaWindow.key_id == admitted.key_id)
        )
    assert requests == 2


def test_key_changes_apply_to_the_very_next_admission(prog: Any) -> None:
    admit(prog)
    with session_scope(write=True) as s:
        s.execute(
            update(ApiKey).where(ApiKey.prefix == prog.key_prefix).values(token_budget=1, tokens_used=1)
        )
    with pytest.raises(QuotaExceeded, match="token budget of 1"):
        admit(prog)
    with session_scope(write=True) as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.prefix == prog.key_prefix)
            .values(token_budget=None, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    with pytest.raises(AuthenticationFailed, match="has expired"):
        admit(prog)
    with session_scope(write=True) as s:
        s.execute(update(ApiKey).where(ApiKey.prefix == prog.key_prefix).values(expires_at=None))
    admit(prog)
    revoke(prog.key_prefix)
    with pytest.raises(AuthenticationFailed, match="has been revoked"):
        admit(prog)


def _sqlite_file() -> str:
    url = get_settings().resolved_database_url
    if not url.startswith("sqlite:///"):
        pytest.skip("SQLite's write lock: the PostgreSQL run has no such lock to wait for")
    return url.removeprefix("sqlite:///")


def test_a_writer_waits_for_another_process_s_write_lock_then_commits(prog: Any) -> None:
    """`serve --workers 2` on SQLite: another process holding the write lock delays a call, and the
    call goes through once the lock is free (the writer tries for it every few milliseconds)."""
    other = sqlite3.connect(_sqlite_file(), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    pending = writer().submit(AdmitCall(prog.secret, ENDPOINT, None, None, None))
    time.sleep(0.3)
    assert not pending.done()  # waiting for the lock, not failed
    other.execute("COMMIT")
    assert pending.result(10).endpoint == ENDPOINT
    other.close()
    assert admit(prog).endpoint == ENDPOINT


def test_a_write_lock_held_past_the_wait_fails_that_call_only(
    prog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "SQLITE_LOCK_WAIT_S", 0.2)
    other = sqlite3.connect(_sqlite_file(), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"):
        writer().submit(AdmitCall(prog.secret, ENDPOINT, None, None, None)).result(10)
    other.execute("COMMIT")
    other.close()
    assert admit(prog).endpoint == ENDPOINT  # the writer is not left broken
