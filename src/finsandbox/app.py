"""The ASGI application: the gateway, the JSON API and the web pages, with errors mapped in one place."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from finsandbox import __version__
from finsandbox.api import router as api_router
from finsandbox.errors import FinsandboxError
from finsandbox.gateway import router as gateway_router
from finsandbox.gateway.backends import close_backends
from finsandbox.gateway.guarding import warm_up
from finsandbox.gateway.http import error_response, install_error_handlers

log = logging.getLogger("finsandbox")


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        },
        "finsandbox": {"type": "object"},
    },
}
_ERRORS = {
    "400": "The request is malformed or a value is out of range; the message names the field",
    "401": "No valid credential (key or personal token)",
    "403": "The credential may not do this (another workspace's trial, a closed workspace, a role)",
    "404": "No such thing, or one the caller may not see",
    "405": "The method is not allowed on this path",
    "409": "The thing is not in a state that allows this",
    "413": "The request body is too large",
    "415": "The body is not JSON",
    "422": "A configuration file the request names is invalid",
    "429": "A quota is spent; Retry-After says when to try again",
}
_UPSTREAM = {
    "502": "The model backend failed",
    "503": "The model backend is unavailable",
    "504": "The model backend did not answer in time",
}


def _document_errors(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with every error a route can answer listed on it, in the one error shape
    (an undocumented status is a contract a client cannot code against)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            # FastAPI documents its own 422 validation shape; this server answers 400 in the error shape.
            responses.pop("422", None)
            extra = {**_ERRORS, **(_UPSTREAM if path.startswith("/v1/") else {})}
            for status, text in extra.items():
                responses.setdefault(status, {"description": text, "content": ref})
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def _checkpoint_once() -> None:
    from finsandbox import ledger
    from finsandbox.store import session_scope
    from finsandbox.supervision import keys

    with session_scope() as session:
        ledger.checkpoint(session, keys.ensure_key())


async def _checkpoint_periodically() -> None:
    """Sign the ledger's head on a schedule, so a rewrite of the database is caught by a file it cannot
    reach; a ledger that no longer matches an earlier checkpoint is logged and never signed."""
    from finsandbox.ledger.checkpoints import EVERY_SECONDS

    while True:
        await asyncio.sleep(EVERY_SECONDS)
        try:
            await anyio.to_thread.run_sync(_checkpoint_once)
        except FinsandboxError as exc:
            log.error("ledger checkpoint refused: %s", exc.message)
        except Exception:
            log.exception("ledger checkpoint failed")


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await anyio.to_thread.run_sync(warm_up)
    # Everything imported and built so far lives as long as the process. Frozen, the garbage
    # collector never traverses it again: a full collection of the ~200,000 startup objects
    # stopped every request for 100-400 ms at random moments under load (the latency tail).
    gc.collect()
    gc.freeze()
    checkpoints = asyncio.create_task(_checkpoint_periodically())
    yield
    checkpoints.cancel()
    await close_backends()


def create_app() -> FastAPI:
    app = FastAPI(
        title="finsandbox",
        version=__version__,
        description=(
            "GenAI sandbox for the finance sector: OpenAI-compatible gateway, guards, ledger, evaluations."
        ),
        lifespan=_lifespan,
        docs_url=None,  # served below from vendored assets: no CDN
        redoc_url=None,
    )
    app.openapi = lambda: _document_errors(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(gateway_router)
    app.include_router(api_router)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        """The API reference (Swagger UI), entirely from files shipped in the package."""
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="finsandbox API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    from finsandbox.web import install as install_web

    install_web(app)  # pages, static files, sessions; JSON errors stay JSON for /v1 and /api
    return app


__all__ = ["create_app", "error_response"]
