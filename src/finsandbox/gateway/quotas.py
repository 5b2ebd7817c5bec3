"""Per-key quotas that hold across every server process.

Requests per minute and tokens per minute are counted in fixed one-minute windows, kept in
the database (an atomic conditional upsert) or, when FINSANDBOX_REDIS_URL is set, in Redis
(an atomic Lua script). The total token budget always lives on the key row, because it
must survive a Redis restart.

Tokens are known only after a call, so a call *reserves* its most (prompt estimate plus its output
limit) at admission, with atomic conditional writes that hold across processes, and settles to what
it used when it is recorded. A budgeted key's output limit is capped at what its budget has left, so
no key ends past its budget; a tokens-per-minute limit may be passed by at most the call admitted
into an empty window.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from finsandbox.errors import QuotaExceeded
from finsandbox.store.models import ApiKey, QuotaWindow
from finsandbox.store.prepared import Prepared

WINDOW_SECONDS = 60
BUDGET_RETRY_AFTER = 24 * 3600
DEFAULT_OUTPUT_RESERVE = 1024
"""Output tokens reserved for a call that names no limit; on a budgeted key also its output cap."""


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


@dataclass(frozen=True)
class Reservation:
    """What an admitted call holds until it is recorded: tokens reserved and the window they count in."""

    tokens: int = 0
    window: int = 0
    output_cap: int | None = None  # the most output tokens the budget leaves this call


def plan_reservation(key: QuotaKey, prompt_tokens: int, max_tokens: int | None) -> Reservation:
    """The tokens a call must reserve, capping its output at what a budgeted key has left."""
    output = max_tokens or DEFAULT_OUTPUT_RESERVE
    cap = None
    if key.token_budget is not None:
        _check_budget(key)
        left = key.token_budget - key.tokens_used - prompt_tokens
        if left < 1:
            raise QuotaExceeded(
                f"key {key.prefix} has {key.token_budget - key.tokens_used} tokens left of its token budget "
                f"of {key.token_budget}, and this request's prompt alone needs about {prompt_tokens}",
                retry_after=BUDGET_RETRY_AFTER,
                code="token_budget_exhausted",
            )
        if output > left or max_tokens is None:
            # A budgeted call is never let past the budget: its output is capped at what is left
            # (and, when it names no limit, at the default reserve, so concurrent calls can share).
            cap = output = min(output, left)
    return Reservation(tokens=prompt_tokens + output, window=current_window()[0], output_cap=cap)


class Quotas(Protocol):
    def admit(self, conn: Connection, key: QuotaKey, reservation: Reservation = Reservation()) -> None:
        """Count one request and hold its reservation, or refuse it having written nothing."""
        ...

    def record(
        self, conn: Connection, key_id: str, tokens: int, reservation: Reservation = Reservation()
    ) -> None:
        """Settle a call: its tokens replace its reservation."""
        ...


# Core statements built once with bind parameters and run on the driver (store/prepared.py): the
# gateway's writer runs them for every call.
_windows = QuotaWindow.__table__
_keys = ApiKey.__table__
_TOKENS_IN_WINDOW = Prepared(
    select(_windows.c.tokens).where(_windows.c.key_id == bindparam("k"), _windows.c.window == bindparam("w"))
)
_ADD_TO_BUDGET = Prepared(
    _keys.update()
    .where(_keys.c.id == bindparam("k"))
    .values(tokens_used=_keys.c.tokens_used + bindparam("n"))
)
_RESERVE_BUDGET = Prepared(
    _keys.update()
    .where(
        _keys.c.id == bindparam("k"),
        (_keys.c.token_budget.is_(None)) | (_keys.c.tokens_used + bindparam("n") <= _keys.c.token_budget),
    )
    .values(tokens_used=_keys.c.tokens_used + bindparam("n"))
)
_OLD_WINDOWS = Prepared(delete(_windows).where(_windows.c.window < bindparam("w")))
_statements: dict[tuple[str, str], Prepared] = {}


def _upsert(dialect: str, kind: str) -> Prepared:
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
        elif kind == "tpm":  # reserve tokens unless the window would pass its limit (an empty one admits)
            stmt = insert.values(key_id=key, window=window, requests=0, tokens=bindparam("n"))
            stmt = stmt.on_conflict_do_update(
                index_elements=index,
                set_={"tokens": _windows.c.tokens + bindparam("n")},
                where=(_windows.c.tokens <= 0) | (_windows.c.tokens + bindparam("n") <= bindparam("limit")),
            ).returning(_windows.c.tokens)
        else:
            stmt = insert.values(key_id=key, window=window, requests=1, tokens=0)
            stmt = stmt.on_conflict_do_update(
                index_elements=index,
                set_={"requests": _windows.c.requests + 1},
                where=(_windows.c.requests < bindparam("limit")) if kind == "rpm" else None,
            ).returning(_windows.c.requests)
        stmt = _statements[(dialect, kind)] = Prepared(stmt)
    return stmt


class DatabaseQuotas:
    """Counters in the quota_windows table; correct across processes sharing one database."""

    def admit(self, conn: Connection, key: QuotaKey, reservation: Reservation = Reservation()) -> None:
        _check_budget(key)
        window, retry = current_window()
        if key.tpm_limit is not None:
            used = _TOKENS_IN_WINDOW.run(conn, {"k": key.id, "w": window}).scalar()
            if used is not None and used >= key.tpm_limit:
                raise _tpm_error(key, retry)
        reserving = reservation.tokens > 0 and (key.tpm_limit is not None or key.token_budget is not None)
        # The reservation's writes are conditional and may be refused after the request was counted:
        # a savepoint takes them all back, so a refusal still leaves nothing written.
        nested = conn.begin_nested() if reserving else None
        try:
            params: dict[str, Any] = {"k": key.id, "w": window}
            if key.rpm_limit is not None:
                params["limit"] = key.rpm_limit
            stmt = _upsert(conn.dialect.name, "count" if key.rpm_limit is None else "rpm")
            if stmt.run(conn, params).first() is None:
                raise _rpm_error(key, retry)
            if reserving:
                _reserve_budget(conn, key, reservation)
                if key.tpm_limit is not None:
                    stmt = _upsert(conn.dialect.name, "tpm")
                    args = {
                        "k": key.id,
                        "w": reservation.window,
                        "n": reservation.tokens,
                        "limit": key.tpm_limit,
                    }
                    if stmt.run(conn, args).first() is None:
                        raise _tpm_error(key, retry)
        except QuotaExceeded:
            if nested is not None:
                nested.rollback()
            raise
        if nested is not None:
            nested.commit()
        if random.random() < 0.001:  # occasional housekeeping of windows older than a day
            _OLD_WINDOWS.send(conn, {"w": window - 1440})

    def record(
        self, conn: Connection, key_id: str, tokens: int, reservation: Reservation = Reservation()
    ) -> None:
        window = reservation.window if reservation.tokens else current_window()[0]
        delta = tokens - reservation.tokens
        if delta:
            _upsert(conn.dialect.name, "tokens").send(conn, {"k": key_id, "w": window, "n": delta})
            _add_to_budget(conn, key_id, delta)


def _reserve_budget(conn: Connection, key: QuotaKey, reservation: Reservation) -> None:
    if _RESERVE_BUDGET.run(conn, {"k": key.id, "n": reservation.tokens}).rowcount != 1:
        raise QuotaExceeded(
            f"key {key.prefix} has too little of its token budget of {key.token_budget} left for this "
            f"request (it may use up to {reservation.tokens} tokens); lower max_tokens",
            retry_after=BUDGET_RETRY_AFTER,
            code="token_budget_exhausted",
        )


def _add_to_budget(conn: Connection, key_id: str, tokens: int) -> None:
    if tokens:
        _ADD_TO_BUDGET.send(conn, {"k": key_id, "n": tokens})


_ADMIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
if limit > 0 and n > limit then return -1 end
local tpm, reserve = tonumber(ARGV[3]), tonumber(ARGV[4])
if tpm > 0 and reserve > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used > 0 and used + reserve > tpm then return -2 end
  redis.call('INCRBY', KEYS[2], reserve)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return n
"""
"""Count a request (rpm) and reserve its tokens (tpm) together, or neither: -1 rpm, -2 tpm refused."""


class RedisQuotas:
    """Per-minute counters in Redis (fast, shared); the budget stays in the database."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._admit = self._redis.register_script(_ADMIT_SCRIPT)

    def admit(self, conn: Connection, key: QuotaKey, reservation: Reservation = Reservation()) -> None:
        _check_budget(key)
        window, retry = current_window()
        tpm = f"finsandbox:tpm:{key.id}:{reservation.window or window}"
        if key.tpm_limit is not None:
            used = self._redis.get(tpm)
            if used is not None and int(used) >= key.tpm_limit:
                raise _tpm_error(key, retry)
        # The budget (in the database, inside the writer's transaction) first: its refusal writes nothing.
        nested = conn.begin_nested() if reservation.tokens and key.token_budget is not None else None
        if nested is not None:
            try:
                _reserve_budget(conn, key, reservation)
            except QuotaExceeded:
                nested.rollback()
                raise
        reserve = reservation.tokens if key.tpm_limit is not None else 0
        n = self._admit(
            keys=[f"finsandbox:rpm:{key.id}:{window}", tpm],
            args=[key.rpm_limit or 0, 2 * WINDOW_SECONDS, key.tpm_limit or 0, reserve],
        )
        if int(n) < 0:
            if nested is not None:
                nested.rollback()
            raise _rpm_error(key, retry) if int(n) == -1 else _tpm_error(key, retry)
        if nested is not None:
            nested.commit()

    def record(
        self, conn: Connection, key_id: str, tokens: int, reservation: Reservation = Reservation()
    ) -> None:
        window = reservation.window if reservation.tokens else current_window()[0]
        delta = tokens - reservation.tokens
        if not delta:
            return
        name = f"finsandbox:tpm:{key_id}:{window}"
        pipe = self._redis.pipeline()
        pipe.incrby(name, delta)
        pipe.expire(name, 2 * WINDOW_SECONDS)
        pipe.execute()
        _add_to_budget(conn, key_id, delta)


def make_quotas(redis_url: str | None) -> Quotas:
    return RedisQuotas(redis_url) if redis_url else DatabaseQuotas()
