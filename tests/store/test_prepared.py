"""Statements run on the driver (store/prepared.py) store and read exactly what SQLAlchemy would.

The gateway's writer runs its hot statements this way; a value converted differently (a naive
time, a Boolean as 0/1, a JSON column as text) would corrupt usage rows or endpoint settings
without any error, so each is compared with `Connection.execute` on the same database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from finsandbox.store import get_engine
from finsandbox.store.db import WRITE
from finsandbox.store.models import ApiKey, Endpoint, UsageRecord
from finsandbox.store.prepared import Prepared, pipeline
from tests.conftest import Programme

_usage = UsageRecord.__table__
_endpoints = Endpoint.__table__


def _usage_row(programme: Programme, row_id: str, **extra: object) -> dict[str, object]:
    with get_engine().connect() as conn:
        key_id = conn.execute(select(ApiKey.id).where(ApiKey.prefix == programme.key_prefix)).scalar_one()
    return {
        "id": row_id,
        "created_at": datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC),
        "workspace_id": programme.workspace_id,
        "key_id": key_id,
        "endpoint": programme.endpoint,
        "backend": "openai",
        "stream": True,
        "status": "ok",
        "latency_ms": 12.5,
        **extra,
    }


def test_an_insert_stores_what_connection_execute_stores(programme: Programme) -> None:
    insert = Prepared(_usage.insert())
    engine = get_engine()
    hong_kong = timezone(timedelta(hours=8))
    when = {"created_at": datetime(2026, 12, 3, 17, 30, 15, 123456, tzinfo=hong_kong)}
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        conn.execute(_usage.insert(), _usage_row(programme, "by-sqlalchemy", **when))
        insert.run(conn, _usage_row(programme, "by-driver", **when))
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(_usage).where(_usage.c.id.like("by-%")))}
    ours, theirs = rows["by-driver"]._asdict(), rows["by-sqlalchemy"]._asdict()
    ours.pop("id"), theirs.pop("id")
    assert ours == theirs
    assert ours["created_at"] == datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
    assert ours["stream"] is True
    # Columns left out take their constant defaults, as they would through SQLAlchemy.
    assert ours["prompt_tokens"] == 0 and ours["completion_tokens"] == 0
    # Read back through the driver too: a time, a Boolean and a float (whose conversion on
    # PostgreSQL depends on the type the server reports).
    read = Prepared(select(_usage).where(_usage.c.id == bindparam("id")))
    with engine.connect() as conn, conn.begin():
        again = read.run(conn, {"id": "by-sqlalchemy"}).first()
    assert again._asdict() == rows["by-sqlalchemy"]._asdict()
    assert isinstance(again.latency_ms, float) and again.latency_ms == 12.5


def test_a_select_reads_json_booleans_and_times_as_sqlalchemy_does(programme: Programme) -> None:
    with get_engine().connect().execution_options(**WRITE) as conn, conn.begin():
        conn.execute(
            _endpoints.update()
            .where(_endpoints.c.workspace_id == programme.workspace_id)
            .values(config={"base_url": "http://127.0.0.1:9", "models": ["a", "b"]}, customer_facing=True)
        )
    query = select(
        _endpoints.c.name, _endpoints.c.config, _endpoints.c.customer_facing, _endpoints.c.created_at
    )
    query = query.where(_endpoints.c.workspace_id == bindparam("ws"), _endpoints.c.enabled.is_(True))
    with get_engine().connect() as conn, conn.begin():
        expected = conn.execute(query, {"ws": programme.workspace_id}).first()
        row = Prepared(query).run(conn, {"ws": programme.workspace_id}).first()
    assert expected is not None and row is not None
    assert tuple(row) == tuple(expected)
    assert row.config == {"base_url": "http://127.0.0.1:9", "models": ["a", "b"]}
    assert row.customer_facing is True
    assert row.created_at.tzinfo is not None


def test_it_runs_inside_the_connection_transaction(programme: Programme) -> None:
    insert = Prepared(_usage.insert())
    count = Prepared(select(_usage.c.id).where(_usage.c.id == bindparam("id")))
    with get_engine().connect().execution_options(**WRITE) as conn:
        with conn.begin() as tx:
            insert.run(conn, _usage_row(programme, "rolled-back"))
            assert count.run(conn, {"id": "rolled-back"}).scalar() == "rolled-back"
            tx.rollback()
        with conn.begin():
            assert count.run(conn, {"id": "rolled-back"}).scalar() is None


def test_an_update_reports_the_rows_it_changed(programme: Programme) -> None:
    update = Prepared(
        _usage.update().where(_usage.c.status == bindparam("s")).values(latency_ms=bindparam("ms"))
    )
    with get_engine().connect().execution_options(**WRITE) as conn, conn.begin():
        Prepared(_usage.insert()).run(conn, _usage_row(programme, "u1"))
        Prepared(_usage.insert()).run(conn, _usage_row(programme, "u2"))
        assert update.run(conn, {"s": "ok", "ms": 1.0}).rowcount == 2
        assert update.run(conn, {"s": "no-such-status", "ms": 1.0}).rowcount == 0


def test_a_default_computed_in_python_must_be_given(programme: Programme) -> None:
    """Such defaults (a new id, the time now) run in SQLAlchemy's execution context, which is
    skipped here: leaving one out is refused, never stored as NULL."""
    row = _usage_row(programme, "x")
    row.pop("created_at")
    with (
        get_engine().connect().execution_options(**WRITE) as conn,
        conn.begin(),
        pytest.raises(TypeError, match="created_at"),
    ):
        Prepared(_usage.insert()).run(conn, row)


def test_writes_sent_in_a_pipeline_are_seen_by_the_next_statement_waited_for(programme: Programme) -> None:
    insert = Prepared(_usage.insert())
    update = Prepared(_usage.update().where(_usage.c.status == bindparam("s")).values(status="settled"))
    with get_engine().connect().execution_options(**WRITE) as conn:
        with conn.begin(), pipeline(conn):
            insert.send(conn, _usage_row(programme, "p1"))
            insert.send(conn, _usage_row(programme, "p2"))
            assert update.run(conn, {"s": "ok"}).rowcount == 2
            insert.send(conn, _usage_row(programme, "p3"))
        with conn.begin():
            rows = conn.execute(select(_usage.c.id, _usage.c.status).order_by(_usage.c.id)).all()
    assert [tuple(r) for r in rows] == [("p1", "settled"), ("p2", "settled"), ("p3", "ok")]


def test_a_failed_write_in_a_pipeline_fails_its_transaction_and_leaves_nothing(
    programme: Programme,
) -> None:
    """On PostgreSQL the error arrives with the next statement waited for (or the COMMIT); on
    SQLite at once. Either way the transaction rolls back whole: no half-written call."""
    insert = Prepared(_usage.insert())
    ids = Prepared(select(_usage.c.id))
    with get_engine().connect().execution_options(**WRITE) as conn:
        # The driver's error arrives as SQLAlchemy's class for it, as from Connection.execute: the
        # writer tells a failing database (OperationalError) from a failing call by it.
        with pytest.raises(IntegrityError), conn.begin(), pipeline(conn):
            insert.send(conn, _usage_row(programme, "kept-only-if-committed"))
            insert.send(conn, _usage_row(programme, "dup"))
            insert.send(conn, _usage_row(programme, "dup"))  # the primary key refuses it
            ids.run(conn)
        with conn.begin():
            assert ids.run(conn).rows == []
