"""The web UI: server-rendered pages (Jinja2 + vendored htmx) on the same server as the gateway and API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from finsandbox.web import (
    applications,
    auth,
    datasets,
    finetunes,
    jobs,
    oversight,
    playground,
    reviews,
    trials,
    workspaces,
)
from finsandbox.web.base import CsrfFailed, LoginRequired, error_page, is_page_request, page_error
from finsandbox.web.security import SessionMiddleware

router = APIRouter()
for _module in (
    auth,
    applications,
    workspaces,
    datasets,
    finetunes,
    playground,
    trials,
    jobs,
    reviews,
    oversight,
):
    router.include_router(_module.router)

STATIC = Path(__file__).parent / "static"


def _html_or(json_handler: Any) -> Any:
    """An exception handler that answers pages with HTML and everything else as before (JSON)."""

    async def handler(request: Request, exc: Exception) -> Any:
        if not is_page_request(request):
            return json_handler(request, exc)
        if isinstance(exc, StarletteHTTPException):
            if exc.status_code == 404:
                return error_page(request, 404, "Not found", f"There is no page at {request.url.path}.")
            return error_page(request, exc.status_code, "Cannot do that", str(exc.detail))
        try:
            return page_error(request, exc)
        except Exception:
            return json_handler(request, exc)

    return handler


def install(app: FastAPI) -> None:
    """Mount the pages, the static files and the session middleware; keep JSON errors for /v1 and /api."""
    for exc_class, json_handler in list(app.exception_handlers.items()):
        if isinstance(exc_class, int):
            continue
        app.add_exception_handler(exc_class, _html_or(json_handler))
    app.add_exception_handler(LoginRequired, page_error)
    app.add_exception_handler(CsrfFailed, page_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    app.add_middleware(SessionMiddleware)


__all__ = ["install", "router"]
