"""Per-key quotas that hold across every server process.

Requests per minute and tokens per minute are counted in fixed one-minute windows, kept in
the database (an atomic conditional upsert) or, when FINSANDBOX_REDIS_URL is set, in Redis
(an atomic Lua script). The total token budget always lives on the key row, because it
must survive a Redis restart. Tokens are known only after a call, so a call is admitted
while the window's tokens are below the limit and its tokens are added when it finishes.
"""

from __future__ import annotations

import random
import time
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from finsandbox.errors import QuotaExceeded
from finsandbox.store.models import ApiKey, QuotaWindow

WINDOW_SECONDS = 60
BUDGET_RETRY_AFTER = 24 * 3600


class QuotaKey(Protocol):
    """The key fields quotas read: an `ApiKey` row or the gateway's plain copy of one."""

    @property
    def id(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def rpm_limit(self) -> int | None: ...
    @property
    def tpm_limit(self) -> int | None: ...
    @property
    def token_budget(self) -> int | None: ...
    @property
    def tokens_used(self) -> int: ...


def current_window(now: float | None = None) -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    return window, max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))


def _check_budget(key: QuotaKey) -> None:
    if key.token_budget is not None and key.tokens_used >= key.token_budget:
        raise QuotaExceeded(
            f"key {key.prefix} has used its token budget of {key.token_budget}; "
            "ask the workspace owner for a new key",
            retry_after=BUDGET_RETRY_AFTER,
            code="token_budget_exhausted",
        )


def _rpm_error(key: QuotaKey, retry: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"key {key.prefix} is limited to {key.rpm_limit} requests per minute; retry in {retry} s",
        retry_after=retry,
        code="requests_per_minute_exceeded",
    )


def _tpm_error(key: QuotaKey, retry: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"key {key.prefix} is limited to {key.tpm_limit} tokens per minute; retry in {retry} s",
        retry_after=retry,
        code="tokens_per_minute_exceeded",
    )


class Quotas(Protocol):
    def admit(self, conn: Connection, key: QuotaKey) -> None:
        """Count one request or refuse it; refuses only before writing anything."""
        ...

    def record(self, conn: Connection, key_id: str, tokens: int) -> None: ...


# Core statements built once with bind parameters, so every call hits SQLAlchemy's compiled cache
# and skips the ORM's per-statement work (the hot path runs them thousands of times a second).
_windows = QuotaWindow.__table__
_keys = ApiKey.__table__
_TOKENS_IN_WINDOW = select(_windows.c.tokens).where(
    _windows.c.key_id == bindparam("k"), _windows.c.window == bindparam("w")
)
_ADD_TO_BUDGET = (
    _keys.update()
    .where(_keys.c.id == bindparam("k"))
    .values(tokens_used=_keys.c.tokens_used + bindparam("n"))
)
_statements: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, kind: str) -> Any:
    """INSERT .. ON CONFLICT for this dialect: `rpm` (conditional count), `count`, or `tokens`."""
    stmt = _statements.get((dialect, kind))
    if stmt is None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_windows)
        index = ["key_id", "window"]
        key, window = bindparam("k"), bindparam("w")
        if kind == "tokens":
            stmt = insert.values(key_id=key, window=window, requests=0, tokens=bindparam("n"))
            stmt = stmt.on_conflict_do_update(
                index_elements=index, set_={"tokens": _windows.c.tokens + bindparam("n")}
            )
        else:
            stmt = insert.values(key_id=key, window=window, requests=1, tokens=0)
            stmt = stmt.on_conflict_do_update(
                index_elements=index,
                set_={"requests": _windows.c.requests + 1},
                where=(_windows.c.requests < bindparam("limit")) if kind == "rpm" else None,
            ).returning(_windows.c.requests)
        _statements[(dialect, kind)] = stmt
    return stmt


class DatabaseQuotas:
    """Counters in the quota_windows table; correct across processes sharing one database."""

    def admit(self, conn: Connection, key: QuotaKey) -> None:
        _check_budget(key)
        window, retry = current_window()
        if key.tpm_limit is not None:
            used = conn.execute(_TOKENS_IN_WINDOW, {"k": key.id, "w": window}).scalar()
            if used is not None and used >= key.tpm_limit:
                raise _tpm_error(key, retry)
        params: dict[str, Any] = {"k": key.id, "w": window}
        if key.rpm_limit is not None:
            params["limit"] = key.rpm_limit
        stmt = _upsert(conn.dialect.name, "count" if key.rpm_limit is None else "rpm")
        if conn.execute(stmt, params).first() is None:
            raise _rpm_error(key, retry)
        if random.random() < 0.001:  # occasional housekeeping of windows older than a day
            conn.execute(delete(QuotaWindow).where(QuotaWindow.window < window - 1440))

    def record(self, conn: Connection, key_id: str, tokens: int) -> None:
        window, _ = current_window()
        conn.execute(_upsert(conn.dialect.name, "tokens"), {"k": key_id, "w": window, "n": tokens})
        _add_to_budget(conn, key_id, tokens)


def _add_to_budget(conn: Connection, key_id: str, tokens: int) -> None:
    if tokens:
        conn.execute(_ADD_TO_BUDGET, {"k": key_id, "n": tokens})


_RPM_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local limit = tonumber(ARGV[1])
if limit > 0 and n > limit then
  redis.call('DECR', KEYS[1])
  return -1
end
return n
"""


class RedisQuotas:
    """Per-minute counters in Redis (fast, shared); the budget stays in the database."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._rpm = self._redis.register_script(_RPM_SCRIPT)

    def admit(self, conn: Connection, key: QuotaKey) -> None:
        _check_budget(key)
        window, retry = current_window()
        if key.tpm_limit is not None:
            used = self._redis.get(f"finsandbox:tpm:{key.id}:{window}")
            if used is not None and int(used) >= key.tpm_limit:
                raise _tpm_error(key, retry)
        n = self._rpm(
            keys=[f"finsandbox:rpm:{key.id}:{window}"], args=[key.rpm_limit or 0, 2 * WINDOW_SECONDS]
        )
        if int(n) < 0:
            raise _rpm_error(key, retry)

    def record(self, conn: Connection, key_id: str, tokens: int) -> None:
        window, _ = current_window()
        name = f"finsandbox:tpm:{key_id}:{window}"
        pipe = self._redis.pipeline()
        pipe.incrby(name, tokens)
        pipe.expire(name, 2 * WINDOW_SECONDS)
        pipe.execute()
        _add_to_budget(conn, key_id, tokens)


def make_quotas(redis_url: str | None) -> Quotas:
    return RedisQuotas(redis_url) if redis_url else DatabaseQuotas()
