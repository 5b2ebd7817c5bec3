"""Group commit: one writer thread per process and database runs every gateway write.

Why: when each call opened its own write transaction from a worker thread, concurrent calls
fought over SQLite's write lock through its sleeping busy handler (waits of up to 100 ms, a
p99 of seconds), and each call paid for its own BEGIN and COMMIT. Here admissions and
records are jobs on one queue; the writer takes every job that is waiting, runs them in one
write transaction (BEGIN IMMEDIATE on SQLite) and only after COMMIT hands each caller its
result, so nothing is acknowledged before it is committed.

Jobs run their statements through `store.prepared` (never `Connection.execute`). On PostgreSQL a
batch holding a `pipelined` job (a call's record) runs as one psycopg pipeline, where writes whose
results nobody waits for go out with the next statement that is waited for: a record costs four
round trips instead of eight. An admission (reads, then one conditional counter) stays outside a
pipeline, where it costs four.

A job has two phases. `rows` runs for every job of a batch first (quota counters, budgets,
admission checks); then, if any job needs the ledger, the chain is locked and its head read
inside the same transaction (the PostgreSQL advisory lock is taken after the row locks, the
order every other ledger writer uses), and `ledger` runs for those jobs in queue order, each
extending the head the previous one left. Processes still serialise on the database's lock,
so the chain never forks. A job may refuse (raise a `FinsandboxError`) only from `rows` and
only before it has written anything; the others in its batch go on. Any other error rolls
the whole batch back and each job is retried in a transaction of its own, so one bad call
cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from contextlib import nullcontext
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError
from finsandbox.ledger.chain import Head, read_head
from finsandbox.store.db import SQLITE_LOCK_WAIT_S, WRITE, get_engine
from finsandbox.store.prepared import pipeline

T = TypeVar("T")
MAX_BATCH = 128
# SQLite's busy handler is given this long per try of the write lock (see `Writer._begin`).
SQLITE_LOCK_POLL_MS = 5
log = logging.getLogger("finsandbox.gateway")


class Job(Generic[T]):
    """One call's share of a write transaction; see the module docstring for the contract."""

    needs_ledger = False
    # Mostly writes whose results it does not wait for (`Prepared.send`): a batch with such a job
    # runs as one psycopg pipeline on PostgreSQL. A batch of reads and checks does not, since
    # entering and leaving a pipeline costs round trips of its own.
    pipelined = False

    def rows(self, conn: Connection) -> None:
        """Row writes and checks; may raise FinsandboxError, but only before writing anything."""

    def ledger(self, conn: Connection, head: Head) -> Head:
        """Append to the chain after `head` (only called when `needs_ledger`); returns the new head."""
        return head

    def result(self) -> T:
        raise NotImplementedError


class _Pending:
    __slots__ = ("future", "job")

    def __init__(self, job: Job[Any]) -> None:
        self.job = job
        self.future: Future[Any] = Future()


class Writer:
    """The single writing connection of this process for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self.transactions = 0  # committed; jobs / transactions is the mean batch size
        self.jobs = 0
        self._thread = threading.Thread(target=self._loop, name="finsandbox-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job[T]) -> Future[T]:
        pending = _Pending(job)
        self._queue.put(pending)
        return pending.future

    async def run(self, job: Job[T]) -> T:
        """Wait, without holding a worker thread, until the job's transaction has committed."""
        return await asyncio.wrap_future(self.submit(job))

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A caller cancelled before its job started gets nothing written (and no quota spent).
            batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
            try:
                if batch:
                    self._commit(batch)
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                log.exception("the gateway writer failed")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self._transaction([p.job for p in batch])
        except BaseException as exc:
            self._drop_connection()  # a stale connection is the commonest cause: retry on a fresh one
            if len(batch) == 1:
                log.warning("gateway write failed: %r", exc)
                batch[0].future.set_exception(exc)
                return
            for i, pending in enumerate(batch):
                if not self._commit_alone(pending):  # the database itself is failing (locked, down)
                    for rest in batch[i + 1 :]:
                        rest.future.set_exception(exc)
                    return
            return
        self._commit_outcomes(batch, outcomes)

    def _commit_outcomes(self, batch: list[_Pending], outcomes: list[FinsandboxError | None]) -> None:
        """Resume the callers of a committed transaction."""
        self.transactions += 1
        self.jobs += len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, FinsandboxError):
                pending.future.set_exception(outcome)
            else:
                try:
                    pending.future.set_result(pending.job.result())
                except BaseException as exc:
                    pending.future.set_exception(exc)

    def _commit_alone(self, pending: _Pending) -> bool:
        """Retry one job of a failed batch in its own transaction; False if the database failed."""
        try:
            self._commit_outcomes([pending], self._transaction([pending.job]))
        except OperationalError as exc:
            self._drop_connection()
            pending.future.set_exception(exc)
            return False
        except BaseException as exc:
            self._drop_connection()
            log.warning("gateway write failed: %r", exc)
            pending.future.set_exception(exc)
        return True

    def _transaction(self, jobs: list[Job[Any]]) -> list[FinsandboxError | None]:
        conn = self._connection()
        # On PostgreSQL the statements whose results nobody waits for travel together (prepared.py);
        # the pipeline is left, and every error in it raised, before the COMMIT.
        piped = pipeline(conn) if any(job.pipelined for job in jobs) else nullcontext()
        with self._begin(conn), piped:
            outcomes: list[FinsandboxError | None] = []
            for job in jobs:
                try:
                    job.rows(conn)
                    outcomes.append(None)
                except FinsandboxError as exc:
                    outcomes.append(exc)
            appending = [j for j, o in zip(jobs, outcomes, strict=True) if o is None and j.needs_ledger]
            if appending:
                head = read_head(conn)
                for job in appending:
                    head = job.ledger(conn, head)
        return outcomes

    def _begin(self, conn: Connection) -> Any:
        """Begin the transaction; on SQLite, take the write lock as soon as it is free.

        Another process's writer (`serve --workers 2`) may hold SQLite's write lock. SQLite's own
        busy handler then sleeps 1, 2, 5, 10, ... up to 100 ms between tries, and a writer that
        commits batch after batch takes the lock back in between, so the other waited 100-500 ms
        at concurrency 16-64 (the latency tail). Here the lock is tried every 1-2 ms instead,
        for as long as `busy_timeout` would have waited: SQLite's handler makes its first tries
        (1, 2 and 2 ms, without the GIL) and this loop starts it again while the time lasts.
        """
        if conn.dialect.name != "sqlite":
            return conn.begin()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_POLL_MS}")  # SQLite's short tries: 1, 2, 2 ms
        try:
            deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
            while True:
                try:
                    return conn.begin()
                except OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise
                    conn.rollback()
        finally:
            raw.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_WAIT_S * 1000)}")

    def _connection(self) -> Connection:
        engine = get_engine(self.url)
        if engine is not self._engine or self._conn is None:
            self._drop_connection()  # the engines were disposed (tests, forks): start afresh
            self._engine = engine
            self._conn = engine.connect().execution_options(**WRITE)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # a broken connection: the pool discards it
                log.debug("closing the writer's connection failed", exc_info=True)
        self._conn = None


_writers: dict[str, Writer] = {}
_lock = threading.Lock()
# A forked child has none of its parent's threads: it must start writers of its own.
os.register_at_fork(after_in_child=_writers.clear)


def writer(url: str | None = None) -> Writer:
    """This process's writer for the configured database (started on first use)."""
    url = url or get_settings().resolved_database_url
    found = _writers.get(url)
    if found is not None:
        return found
    with _lock:
        found = _writers.get(url)
        if found is None:
            found = _writers[url] = Writer(url)
        return found
