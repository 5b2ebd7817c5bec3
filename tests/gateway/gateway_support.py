"""Helpers shared by the gateway tests (a plain module: both conftest files are named `conftest`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update


def reset_upstream(url: str) -> None:
    httpx.post(
        f"{url}/_control",
        json={
            "fail_status": None,
            "delay_ms": 0,
            "tool_arguments": None,
            "tool_calls": None,
            "tool_deltas": None,
            "clear": True,
        },
        timeout=5,
    )


def upstream_requests(url: str) -> list[dict[str, Any]]:
    """The request bodies the stub upstream has received since it was last reset."""
    response = httpx.get(f"{url}/_requests", timeout=5)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def upstream_config(upstream_url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": f"{upstream_url}/v1", "model": "stub-model", **extra}


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def chat_body(model: str, text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def assert_openai_error(
    response: httpx.Response, status: int, *, code: str | None = None, says: str = ""
) -> dict:
    """The response has `status` and OpenAI's error shape, names the problem and leaks no traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    assert says.lower() in error["message"].lower(), error["message"]
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in response.text and 'File "' not in response.text
    return error  # type: ignore[no-any-return]


# --- database views ---------------------------------------------------------------------------------


def gateway_entries() -> list[Any]:
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        return list(
            s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "gateway.chat").order_by(LedgerEntry.seq))
        )


def usage_rows() -> list[Any]:
    from finsandbox.store import session_scope
    from finsandbox.store.models import UsageRecord

    with session_scope() as s:
        return list(s.scalars(select(UsageRecord).order_by(UsageRecord.ledger_seq)))


def quota_requests(key_prefix: str) -> int:
    """Requests counted against a key in the quota table (all windows)."""
    from finsandbox.store import session_scope
    from finsandbox.store.models import ApiKey, QuotaWindow

    with session_scope() as s:
        key_id = s.scalars(select(ApiKey.id).where(ApiKey.prefix == key_prefix)).one()
        total = s.scalar(
            select(func.coalesce(func.sum(QuotaWindow.requests), 0)).where(QuotaWindow.key_id == key_id)
        )
        return int(total or 0)


def assert_ledger_consistent() -> None:
    """One valid chain, dense sequence numbers, and exactly one usage row per gateway.chat entry."""
    from finsandbox import ledger
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        report = ledger.verify(s)
        seqs = list(s.scalars(select(LedgerEntry.seq).order_by(LedgerEntry.seq)))
    assert report.ok, report.first
    assert seqs == list(range(1, len(seqs) + 1))
    entries = gateway_entries()
    rows = usage_rows()
    assert sorted(r.ledger_seq for r in rows) == [e.seq for e in entries]


def expire_key(key_prefix: str) -> None:
    """Move a key's expiry into the past (create_key refuses a past date, so we edit the row)."""
    from finsandbox.store import session_scope
    from finsandbox.store.models import ApiKey

    with session_scope(write=True) as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.prefix == key_prefix)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def revoke(key_prefix: str) -> None:
    from finsandbox.access import get_key, revoke_key
    from finsandbox.store import session_scope

    with session_scope(write=True) as s:
        revoke_key(s, get_key(s, key_prefix), actor="test")


def fresh_quota_window(needed_seconds: float = 15.0) -> None:
    """Wait, if need be, so that the next `needed_seconds` fall inside one quota window.

    Per-minute quotas count in fixed one-minute windows; a test that crosses a boundary
    would see its counters reset half-way.
    """
    from finsandbox.gateway.quotas import current_window

    _, left = current_window()
    if left < needed_seconds:
        time.sleep(left + 0.2)
