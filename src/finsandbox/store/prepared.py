"""Core statements compiled once per dialect and run on the driver's cursor: the gateway's hot path.

Why: a gateway call runs about ten statements in the writer's transactions, and SQLAlchemy's
execute path (an execution context, parameter processing, a result object, events) costs 30-45 us
a statement on SQLite, where the driver alone takes about 10 us, and on PostgreSQL about twice
the driver's time, round trip included (`bench/README.md`). Here SQLAlchemy still compiles
the statement for the connection's dialect, every value still goes through its column type's own
bind and result processors, and a driver error is raised as SQLAlchemy's exception class for it
(IntegrityError, OperationalError, ...), with a lost connection invalidated, as `Connection.execute`
does; only the per-execution machinery is skipped. The statement runs on the connection's DBAPI
connection, inside whatever transaction the `Connection` has begun.

On PostgreSQL each statement is also a round trip to the server. Inside `pipeline(conn)` the
statements whose results nobody waits for (`send`: inserts, counter updates, the chain's lock) go
out together with the next statement that is waited for (`run`), or when the pipeline is left:
a gateway call's record takes four round trips instead of eight (BEGIN, the chain's head, the
pipeline's end, COMMIT). A statement that fails is reported by a later statement or when the
pipeline is left, and fails the transaction. On SQLite `send` is `run` without a result.

A statement here must not need what only an execution context provides: Python-side column
defaults or onupdate values other than constants, callable or expanding parameters, server-side
cursors.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, NoReturn

from sqlalchemy import Column, Connection, Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ClauseElement

_Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement's SQL for one dialect, with how to build its parameters and read its rows."""

    __slots__ = ("binds", "columns", "dialect", "fixed", "names", "positional", "results", "row", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        for column in getattr(compiled, "update_prefetch", ()):
            raise TypeError(f"{statement}: give a value for {column.name}, whose onupdate runs in Python")
        for column in getattr(compiled, "insert_prefetch", ()):
            if column.default is None or not column.default.is_scalar:
                raise TypeError(f"{statement}: give a value for {column.name}, whose default runs in Python")
        self.sql = str(compiled)
        self.dialect = dialect
        self.positional = dialect.positional
        binds = compiled.binds  # type: ignore[attr-defined]
        names = list(compiled.positiontup or ()) if dialect.positional else list(binds)  # type: ignore[attr-defined]
        self.names = names
        self.binds: dict[str, _Processor] = {}
        self.fixed: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            bind = binds[name]
            if bind.expanding or bind.callable is not None:
                raise TypeError(f"{statement}: parameter {name!r} needs Connection.execute")
            self.binds[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required:
                self.fixed[name] = bind.value
        for column in getattr(compiled, "insert_prefetch", ()):  # constant defaults of columns not given
            self.fixed[column.key] = column.default.arg
        self.columns: list[Column[Any]] = list(getattr(statement, "exported_columns", ()) or ())
        self.row = namedtuple("Row", [c.key for c in self.columns], rename=True) if self.columns else None  # type: ignore[misc]
        self.results: list[_Processor] | None = None  # from the driver's type codes, at the first fetch

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, process in self.binds.items():
            value = given[name] if name in given else self.fixed[name]
            values[name] = process(value) if process is not None else value
        return tuple(values[n] for n in self.names) if self.positional else values

    def rows(self, cursor: Any) -> list[Any]:
        raw = cursor.fetchall()
        if self.results is None:
            # As SQLAlchemy does: a processor may depend on the type the server reports (numerics).
            codes: Sequence[Any] = [d[1] for d in cursor.description or ()] or [None] * len(self.columns)
            self.results = [
                c.type.dialect_impl(self.dialect).result_processor(self.dialect, code)
                for c, code in zip(self.columns, codes, strict=True)
            ]
        assert self.row is not None
        results = self.results
        return [
            self.row(*(p(v) if p is not None else v for p, v in zip(results, r, strict=True))) for r in raw
        ]


class Result:
    """The rows or row count of one run (the cursor is already closed)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


class Prepared:
    """A Core statement to run many times on Core connections of any dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._insert = isinstance(statement, Insert)
        self._compiled: dict[tuple[Dialect, tuple[str, ...] | None], _Compiled] = {}

    def _for(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        # An INSERT without values() inserts the columns it is given, so its SQL depends on them.
        cache = (dialect, tuple(sorted(params)) if self._insert else None)
        found = self._compiled.get(cache)
        if found is None:
            found = self._compiled[cache] = _Compiled(self.statement, dialect, cache[1])
        return found

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Result:
        """Execute on `conn`'s driver connection, in its current transaction, and wait for the result."""
        params = params or {}
        compiled = self._for(conn.dialect, params)
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            if compiled.row is not None:  # fetching waits for the result, in a pipeline too
                cursor.execute(compiled.sql, compiled.parameters(params))
                return Result(compiled.rows(cursor), cursor.rowcount)
            # A row count is known only once the server has answered: a nested pipeline block
            # waits for it on exit (and is a no-op outside pipeline mode, on PostgreSQL only).
            with _waited(driver):
                cursor.execute(compiled.sql, compiled.parameters(params))
            return Result([], cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise(conn, exc, compiled.sql, params, cursor)
        finally:
            cursor.close()

    def send(self, conn: Connection, params: Mapping[str, Any] | None = None) -> None:
        """Execute without waiting for a result: inside `pipeline(conn)` on PostgreSQL, it is sent
        with the next statement that is waited for, or when the pipeline is left."""
        params = params or {}
        compiled = self._for(conn.dialect, params)
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
        except conn.dialect.loaded_dbapi.Error as exc:
            _raise(conn, exc, compiled.sql, params, cursor)
        if not _in_pipeline(driver):  # in pipeline mode the cursor gets its result when the pipeline syncs
            cursor.close()


def _raise(conn: Connection, exc: Exception, sql: str, params: Any, cursor: Any) -> NoReturn:
    """A driver error as SQLAlchemy's class for it; a lost connection is invalidated, not reused."""
    lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if lost and not conn.invalidated:
        conn.invalidate(exc)
    raise DBAPIError.instance(
        sql, params, exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=conn.dialect
    ) from exc


def _in_pipeline(driver: Any) -> bool:
    pgconn = getattr(driver, "pgconn", None)  # psycopg's libpq connection; SQLite has none
    return pgconn is not None and bool(pgconn.pipeline_status)


def _waited(driver: Any) -> Any:
    return driver.pipeline() if _in_pipeline(driver) else nullcontext()


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Let `send` statements travel together (psycopg's pipeline mode) on PostgreSQL; nothing elsewhere.

    Enter it inside the transaction and leave it before COMMIT (`with conn.begin(), pipeline(conn)`):
    leaving waits for every statement sent, so an error in any of them fails the transaction before
    it commits, never after. Inside it, run statements through `Prepared` only: SQLAlchemy's own
    execute reads a result before it exists. Savepoints (`begin_nested`) are fine, their results are
    never read.
    """
    driver = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or not hasattr(driver, "pipeline"):
        yield
        return
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    except conn.dialect.loaded_dbapi.Error as exc:
        _raise(conn, exc, "(the statements of a pipeline)", None, None)


__all__ = ["Prepared", "Result", "pipeline"]
