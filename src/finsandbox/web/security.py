"""Web sessions, CSRF tokens and login throttling.

The session is a signed cookie (itsdangerous), HttpOnly and SameSite=Lax, marked Secure when the
page is served over https; it expires after an idle period and is re-issued on every page, so an
active user stays signed in. Every visitor's session carries a CSRF token that each POST must
echo (form field `csrf_token` or header `X-CSRF-Token`). Failed logins are counted per email and
client address in `login_attempts`; too many within the window and the form answers 429.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finsandbox.config import get_settings
from finsandbox.store.models import LoginAttempt

COOKIE = "fs_session"
SECRET_FILE = "web-secret"
# Paths the session middleware leaves alone: the gateway's hot path, the JSON API and static files.
_SKIP = ("/v1", "/api", "/static", "/healthz", "/openapi.json", "/docs", "/redoc")

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def _secret() -> str:
    """The signing key: FINSANDBOX_WEB_SECRET, else a random key kept (owner-only) in the data directory."""
    settings = get_settings()
    if settings.web_secret:
        return settings.web_secret
    path = Path(settings.ensure_home()) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:  # the first process to get here writes it; the others read the same key below
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            return text
    raise RuntimeError(f"the web secret file {path.name} in the data directory is empty")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt="finsandbox.web.session")


def new_session() -> dict[str, Any]:
    return {"csrf": secrets.token_urlsafe(32)}


class SessionMiddleware:
    """Puts the signed-cookie session in `scope["session"]` and writes it back on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._ser: URLSafeTimedSerializer | None = None

    def serializer(self) -> URLSafeTimedSerializer:
        if self._ser is None:
            self._ser = _serializer()
        return self._ser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_SKIP):
            await self.app(scope, receive, send)
            return
        idle = get_settings().session_idle_seconds
        session: dict[str, Any] | None = None
        raw = _cookie(scope, COOKIE)
        if raw:
            try:
                data = self.serializer().loads(raw, max_age=idle)
                session = data if isinstance(data, dict) and data.get("csrf") else None
            except SignatureExpired:
                scope["session_expired"] = True
            except BadSignature:
                session = None
        scope["session"] = session or new_session()
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                value = self.serializer().dumps(scope["session"])
                flags = f"Path=/; Max-Age={idle}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
                headers.append("Set-Cookie", f"{COOKIE}={value}; {flags}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return None
            if name in jar:
                return jar[name].value
    return None


def check_csrf(session: dict[str, Any], presented: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and presented and hmac.compare_digest(str(expected), str(presented)))


def sign_in(session: dict[str, Any], user_id: str) -> None:
    """Start an authenticated session: a fresh CSRF token, so a token seen before login is useless."""
    session.clear()
    session.update(new_session())
    session["uid"] = user_id
    session["at"] = int(datetime.now(UTC).timestamp())


def sign_out(session: dict[str, Any]) -> None:
    session.clear()
    session.update(new_session())


@dataclass(frozen=True)
class Throttle:
    """Whether another login attempt is allowed now, and if not, in how many seconds."""

    allowed: bool
    retry_after: int = 0


def login_throttle(session: Session, email: str, ip: str, now: datetime | None = None) -> Throttle:
    """Refuse after MAX_FAILURES failures for this email and address within WINDOW, since the last success."""
    now = now or datetime.now(UTC)
    since = now - WINDOW
    email = email.strip().lower()
    last_ok = session.scalar(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email, LoginAttempt.ip == ip, LoginAttempt.succeeded.is_(True)
        )
    )
    if last_ok is not None:
        last_ok = last_ok if last_ok.tzinfo else last_ok.replace(tzinfo=UTC)
        since = max(since, last_ok)
    failures = list(
        session.scalars(
            select(LoginAttempt.created_at)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.ip == ip,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at > since,
            )
            .order_by(LoginAttempt.created_at)
        )
    )
    if len(failures) < MAX_FAILURES:
        return Throttle(True)
    oldest = failures[-MAX_FAILURES]
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    return Throttle(False, max(1, int((oldest + WINDOW - now).total_seconds()) + 1))


def record_attempt(session: Session, email: str, ip: str, succeeded: bool) -> None:
    session.add(LoginAttempt(email=email.strip().lower()[:254], ip=ip[:64], succeeded=succeeded))
    session.flush()


def _fernet() -> Any:
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    key = hashlib.sha256(("finsandbox.web.flash:" + _secret()).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


FLASH_TTL = 300


def seal(text: str) -> str:
    """Encrypt a value to carry once across a redirect in the (signed, not encrypted) session cookie:
    a new key's secret survives post/redirect/get without being readable from the cookie."""
    return str(_fernet().encrypt(text.encode()).decode())


def unseal(token: str | None) -> str | None:
    """The sealed value, or None when it is missing, tampered with or older than FLASH_TTL seconds."""
    from cryptography.fernet import InvalidToken

    if not token:
        return None
    try:
        return str(_fernet().decrypt(token.encode(), ttl=FLASH_TTL).decode())
    except (InvalidToken, ValueError):
        return None
