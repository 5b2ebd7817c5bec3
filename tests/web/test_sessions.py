"""The session cookie and the login throttle, in process (no browser, no server)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from finsandbox.web.security import COOKIE, MAX_FAILURES, WINDOW, _secret, login_throttle, record_attempt


class _OldSigner(TimestampSigner):
    """Signs as if ten days ago, past any idle timeout."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 10 * 24 * 3600


def test_expired_session_redirects_to_login_and_back(db: str) -> None:
    from finsandbox.app import create_app

    client = TestClient(create_app())
    stale = URLSafeTimedSerializer(_secret(), salt="finsandbox.web.session", signer=_OldSigner).dumps(
        {"csrf": "x", "uid": "someone"}
    )
    client.cookies.set(COOKIE, stale)
    r = client.get("/w/alpha/trials?recipe=a", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/w/alpha/trials%3Frecipe%3Da&expired=1"
    page = client.get(r.headers["location"])
    assert "session expired" in page.text
    assert re.search(r'name="next" value="/w/alpha/trials\?recipe=a"', page.text)


def test_tampered_cookie_is_a_new_anonymous_session(db: str) -> None:
    from finsandbox.app import create_app

    client = TestClient(create_app())
    client.cookies.set(COOKIE, "eyJjc3JmIjoieCIsInVpZCI6ImFkbWluIn0.forged.signature")
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and "expired" not in r.headers["location"]


def test_throttle_counts_failures_since_last_success(db: str) -> None:
    from finsandbox.store import session_scope

    now = datetime.now(UTC)
    with session_scope(write=True) as s:
        for _ in range(MAX_FAILURES - 1):
            record_attempt(s, "a@b.example.com", "10.0.0.1", succeeded=False)
        assert login_throttle(s, "a@b.example.com", "10.0.0.1").allowed
        record_attempt(s, "a@b.example.com", "10.0.0.1", succeeded=False)
        refused = login_throttle(s, "A@b.example.com", "10.0.0.1")
        assert not refused.allowed and 0 < refused.retry_after <= WINDOW.total_seconds() + 1
        assert login_throttle(s, "a@b.example.com", "10.0.0.2").allowed  # another address
        assert login_throttle(
            s, "a@b.example.com", "10.0.0.1", now=now + WINDOW + timedelta(seconds=2)
        ).allowed
