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
from typing import Protocol

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from finsandbox.errors import QuotaExceeded
from finsandbox.store.models import ApiKey, QuotaWindow

WINDOW_SECONDS = 60
BUDGET_RETRY_AFTER = 24 * 3600


def current_window(now: float | None = None) -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    return window, max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))


def _check_budget(key: ApiKey) -> None:
    if key.token_budget is not None and key.tokens_used >= key.token_budget:
        raise QuotaExceeded(
            f"key {key.prefix} has used its token budget of {key.token_budget}; "
            "ask the workspace owner for a new key",
            retry_after=BUDGET_RETRY_AFTER,
            code="token_budget_exhausted",
        )


def _rpm_error(key: ApiKey, retry: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"key {key.prefix} is limited to {key.rpm_limit} requests per minute; retry in {retry} s",
        retry_after=retry,
        code="requests_per_minute_exceeded",
    )


def _tpm_error(key: ApiKey, retry: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"key {key.prefix} is limited to {key.tpm_limit} tokens per minute; retry in {retry} s",
        retry_after=retry,
        code="tokens_per_minute_exceeded",
    )


class Quotas(Protocol):
    def admit(self, session: Session, key: ApiKey) -> None: ...

    def record(self, session: Session, key: ApiKey, tokens: int) -> None: ...


class DatabaseQuotas:
    """Counters in the quota_windows table; correct across processes sharing one database."""

    def _insert(self, session: Session):  # type: ignore[no-untyped-def]
        return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(QuotaWindow)

    def admit(self, session: Session, key: ApiKey) -> None:
        _check_budget(key)
        window, retry = current_window()
        if key.tpm_limit is not None:
            row = session.get(QuotaWindow, (key.id, window))
            if row is not None and row.tokens >= key.tpm_limit:
                raise _tpm_error(key, retry)
        stmt = self._insert(session).values(key_id=key.id, window=window, requests=1, tokens=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key_id", "window"],
            set_={"requests": QuotaWindow.requests + 1},
            where=(QuotaWindow.requests < key.rpm_limit) if key.rpm_limit is not None else None,
        ).returning(QuotaWindow.requests)
        if session.execute(stmt).first() is None:
            raise _rpm_error(key, retry)
        if random.random() < 0.001:  # occasional housekeeping of windows older than a day
            session.execute(delete(QuotaWindow).where(QuotaWindow.window < window - 1440))

    def record(self, session: Session, key: ApiKey, tokens: int) -> None:
        window, _ = current_window()
        stmt = self._insert(session).values(key_id=key.id, window=window, requests=0, tokens=tokens)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key_id", "window"], set_={"tokens": QuotaWindow.tokens + tokens}
        )
        session.execute(stmt)
        _add_to_budget(session, key, tokens)


def _add_to_budget(session: Session, key: ApiKey, tokens: int) -> None:
    if tokens:
        session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(tokens_used=ApiKey.tokens_used + tokens)
        )


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

    def admit(self, session: Session, key: ApiKey) -> None:
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

    def record(self, session: Session, key: ApiKey, tokens: int) -> None:
        window, _ = current_window()
        name = f"finsandbox:tpm:{key.id}:{window}"
        pipe = self._redis.pipeline()
        pipe.incrby(name, tokens)
        pipe.expire(name, 2 * WINDOW_SECONDS)
        pipe.execute()
        _add_to_budget(session, key, tokens)


def make_quotas(redis_url: str | None) -> Quotas:
    return RedisQuotas(redis_url) if redis_url else DatabaseQuotas()
