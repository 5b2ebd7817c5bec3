"""Login (argon2 passwords, throttled per email and address), logout, and the role's home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from finsandbox.access import check_login
from finsandbox.errors import AuthenticationFailed
from finsandbox.store import session_scope
from finsandbox.store.models import User
from finsandbox.web.base import HOME, CsrfFailed, Editor, render, safe_next
from finsandbox.web.security import check_csrf, login_throttle, record_attempt, sign_in, sign_out

router = APIRouter()


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    uid = (request.scope.get("session") or {}).get("uid")
    if not uid:
        return RedirectResponse("/login", status_code=303)
    with session_scope() as s:
        user = s.get(User, uid)
        role = user.role if user else None
    return RedirectResponse(HOME.get(role or "", "/login"), status_code=303)


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/", expired: int = 0) -> Response:
    notice = "Your session expired; sign in again to go back to the page." if expired else None
    return render(request, "login.html", {"next": safe_next(next), "notice": notice, "email": ""})


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    session_data = request.scope["session"]
    if not check_csrf(session_data, csrf_token):
        raise CsrfFailed()
    ip = _client_ip(request)
    target = safe_next(next)
    with session_scope(write=True) as s:
        throttle = login_throttle(s, email, ip)
        if not throttle.allowed:
            minutes = (throttle.retry_after + 59) // 60
            response = render(
                request,
                "login.html",
                {
                    "next": target,
                    "email": email,
                    "error": f"Too many failed sign-ins for this account from your address. "
                    f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                },
                status=429,
            )
            response.headers["Retry-After"] = str(throttle.retry_after)
            return response
        try:
            user = check_login(s, email, password)
        except AuthenticationFailed as exc:
            record_attempt(s, email, ip, succeeded=False)
            error = exc.message
        else:
            record_attempt(s, email, ip, succeeded=True)
            sign_in(session_data, user.id)
            if target == "/":
                target = HOME.get(user.role, "/")
            return RedirectResponse(target, status_code=303)
    return render(request, "login.html", {"next": target, "email": email, "error": error}, status=401)


@router.post("/logout", include_in_schema=False)
def logout(page: Editor) -> Response:
    sign_out(page.request.scope["session"])
    return RedirectResponse("/login", status_code=303)
