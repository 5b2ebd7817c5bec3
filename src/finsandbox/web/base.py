"""What every page shares: who is asking (in the request's database session), CSRF, rendering, errors.

Routes take a `Viewer` (reads) or an `Editor` (writes, CSRF-checked) and call services; authorisation
is always `authorize(user, action, resource)` from access/authz.py, never a rule written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from finsandbox.access.authz import allowed, authorize
from finsandbox.errors import FinsandboxError, NotFound, PermissionDenied
from finsandbox.store import session_scope
from finsandbox.store.models import User, Workspace
from finsandbox.web.security import check_csrf

NAV: dict[str, list[tuple[str, str]]] = {
    "participant": [("Dashboard", "/dashboard"), ("Applications", "/applications"), ("Reviews", "/reviews")],
    "supervisor": [
        ("Cohorts", "/supervision"),
        ("Applications", "/applications"),
        ("Review queue", "/reviews"),
        ("Insights", "/insights"),
        ("Ledger", "/ledger"),
    ],
    "operator": [("Usage", "/operations"), ("Allocations", "/operations/allocations"), ("Ledger", "/ledger")],
}
HOME = {"participant": "/dashboard", "supervisor": "/supervision", "operator": "/operations"}


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in, as plain values the layout can show even after the request's session closed."""

    id: str
    email: str
    display_name: str
    role: str


class LoginRequired(Exception):
    """No (or an expired) session: the page sends the browser to the login form and back."""

    def __init__(self, expired: bool) -> None:
        self.expired = expired


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


THEME_LABELS = {
    "risk_management": "Risk management",
    "anti_fraud": "Anti-fraud",
    "customer_service": "Customer service",
    "process_reengineering": "Process re-engineering",
}
WORD_LABELS = {
    "changes_requested": "changes requested",
    "waived": "waived (override)",
    "no_data": "no data",
}


@cache
def _principle_names() -> dict[str, str]:
    """Principle ids to their names in the programme's framework (read once)."""
    from finsandbox.supervision.framework import load_framework

    try:
        return {p.id: p.name for p in load_framework().framework.principles}
    except Exception:  # a broken framework file must not take every page down; ids still read
        return {}


def label(value: object) -> str:
    """How an identifier reads to a person: states, themes, principles, decisions."""
    from finsandbox.programme.lifecycle import LABELS

    if value is None:
        return ""
    text = str(value)
    return (
        THEME_LABELS.get(text)
        or _principle_names().get(text)
        or LABELS.get(text)
        or WORD_LABELS.get(text)
        or text.replace("_", " ")
    )


def number(value: object, digits: int = 2) -> str:
    """A number as people read it: whole numbers plain, others rounded; booleans as yes/no."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:.{digits}f}"
    return str(value)


_env = Environment(
    loader=PackageLoader("finsandbox.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["pct"] = _pct
_env.filters["label"] = label
_env.filters["num"] = number
_env.filters["short"] = lambda value: str(value or "")[:8]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render a page with the layout's context (user, navigation, CSRF token)."""
    session = request.scope.get("session") or {}
    user: SignedIn | None = request.scope.get("web_user")
    ctx = {
        "request": request,
        "user": user,
        "nav": NAV.get(user.role, []) if user else [],
        "csrf": session.get("csrf", ""),
        "path": request.url.path,
        **(context or {}),
    }
    return HTMLResponse(_env.get_template(template).render(ctx), status_code=status)


def safe_next(target: str | None) -> str:
    """Only same-site paths, so `next` cannot send a user elsewhere after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass
class Page:
    """The signed-in user and the request's database session (one transaction per request)."""

    request: Request
    session: Session
    user: User

    @property
    def actor(self) -> str:
        return f"user:{self.user.email}"

    def authorize(self, action: str, resource: Workspace | Any = None, subject: str | None = None) -> None:
        authorize(self.user, action, resource, subject=subject)

    def may(self, action: str, resource: Workspace | Any = None) -> bool:
        return allowed(self.user, action, resource)

    def render(self, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
        return render(self.request, template, {"page": self, **(context or {})}, status)


async def csrf_ok(request: Request) -> bool:
    presented = request.headers.get("x-csrf-token")
    if presented is None:
        # Read (and cache) the body first: a handler that then reads it as JSON gets it again, where
        # parsing the form straight from the stream would leave "Stream consumed" behind (a 500).
        # When the route declares Form() fields, FastAPI has already parsed the form from the stream
        # (request.form() then returns it cached) and body() can no longer be read.
        with suppress(RuntimeError):
            await request.body()
        form = await request.form()
        value = form.get("csrf_token")
        presented = value if isinstance(value, str) else None
    return check_csrf(request.scope.get("session") or {}, presented)


@contextmanager
def open_page(request: Request, *, write: bool = False) -> Iterator[Page]:
    """The signed-in user in a fresh database session, for routes that manage their own (streaming)."""
    session_data = request.scope.get("session") or {}
    uid = session_data.get("uid")
    if not uid:
        raise LoginRequired(expired=bool(request.scope.get("session_expired")))
    with session_scope(write=write) as session:
        user = session.get(User, uid)
        if user is None or not user.is_active:
            session_data.pop("uid", None)
            raise LoginRequired(expired=False)
        request.scope["web_user"] = SignedIn(user.id, user.email, user.display_name, user.role)
        yield Page(request, session, user)


def _page(write: bool) -> Callable[..., Any]:
    async def csrf(request: Request) -> None:
        if write and request.method == "POST" and not await csrf_ok(request):
            raise CsrfFailed()

    def dependency(request: Request, _csrf: None = Depends(csrf)) -> Iterator[Page]:
        with open_page(request, write=write) as page:
            yield page

    return dependency


# scope="function": the transaction commits before the response (a redirect) is sent, so the page
# the browser loads next always sees the write; FastAPI's default would commit after sending it.
Viewer = Annotated[Page, Depends(_page(False), scope="function")]
"""A signed-in user on a page that only reads."""

Editor = Annotated[Page, Depends(_page(True), scope="function")]
"""A signed-in user posting a form: CSRF-checked, one write transaction."""


def is_page_request(request: Request) -> bool:
    """True for browser pages (HTML errors); the gateway and the JSON API keep their JSON errors."""
    path = request.url.path
    return not path.startswith(("/v1", "/api", "/healthz", "/openapi.json", "/docs", "/redoc"))


def login_redirect(request: Request, expired: bool) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("hx-current-url") or request.url.path
    url = f"/login?next={quote(safe_next(target), safe='/')}" + ("&expired=1" if expired else "")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    response = render(request, "error.html", {"status": status, "title": title, "message": message}, status)
    return response


def page_error(request: Request, exc: Exception) -> Response:
    """The HTML answer to an error raised by a page."""
    if isinstance(exc, LoginRequired):
        return login_redirect(request, exc.expired)
    if isinstance(exc, CsrfFailed):
        return error_page(
            request,
            403,
            "Form expired",
            "This form was not sent with your current session; reload the page and try again.",
        )
    if isinstance(exc, NotFound):
        return error_page(request, 404, "Not found", exc.message)
    if isinstance(exc, PermissionDenied):
        return error_page(request, 403, "Not allowed", exc.message)
    if isinstance(exc, FinsandboxError):
        return error_page(request, exc.status_code, "Cannot do that", exc.message)
    raise exc


def field_errors(exc: FinsandboxError, default: str = "form") -> dict[str, str]:
    """A service error as {field: message}, for showing beside the field that caused it."""
    return {exc.param or default: exc.message}


def not_found(what: str) -> NotFound:
    return NotFound(f"no {what}")


def require(condition: bool, what: str) -> None:
    """Raise NotFound unless `condition`: an object looked up by id must belong to the page's workspace."""
    if not condition:
        raise not_found(what)
