"""The gateway over HTTP: OpenAI's error shape for every error, and a gateway-only ASGI app.

The full application (gateway, API and web pages) installs the same error handlers; a trial that
calls the gateway in-process uses the gateway-only app, so a service never builds the edges.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from finsandbox import __version__
from finsandbox.errors import FinsandboxError, QuotaExceeded
from finsandbox.gateway.backends import close_backends
from finsandbox.gateway.routes import router

log = logging.getLogger("finsandbox")


def error_response(
    status: int, message: str, error_type: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    """OpenAI's error shape, used for every error the server returns."""
    return JSONResponse(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}, status_code=status
    )


def _finsandbox_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FinsandboxError)
    response = error_response(exc.status_code, exc.message, exc.error_type, exc.code, exc.param)
    if exc.extra:
        body = json.loads(response.body)
        body["finsandbox"] = exc.extra
        response = JSONResponse(body, status_code=exc.status_code)
    if isinstance(exc, QuotaExceeded):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = ".".join(str(p) for p in first["loc"] if p != "body")
    return error_response(
        400, f"invalid value for '{loc}': {first['msg']}", "invalid_request_error", param=loc
    )


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kinds = {404: "not_found_error", 405: "invalid_request_error"}
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, message, kinds.get(exc.status_code, "invalid_request_error"))


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.exception("unexpected error (incident %s)", incident, exc_info=exc)
    return error_response(
        500, f"internal error; the operator can find incident {incident} in the server log", "server_error"
    )


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Close the backends (and their model workers) when the server stops."""
    yield
    await close_backends()


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to OpenAI's shape in one place: FinsandboxError by its status, others 400/404/500."""
    app.add_exception_handler(FinsandboxError, _finsandbox_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def create_gateway_app() -> FastAPI:
    """The OpenAI-compatible gateway alone (/v1), for in-process callers such as the trial runner."""
    app = FastAPI(title="finsandbox gateway", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    return app


__all__ = ["create_gateway_app", "error_response", "install_error_handlers", "lifespan"]
