"""One gateway call, from authenticated key to metered answer.

    admit (one write transaction: key -> workspace -> endpoint -> quota)
      -> backend (complete or stream)
      -> record (one write transaction: quota tokens, usage row, ledger entry)

Database work is synchronous SQLAlchemy run in worker threads; the model call is async.
A call that fails after admission is still recorded, with its error, so the ledger and the
meter see every request that reached a backend.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio

from finsandbox import ledger
from finsandbox.access.keys import authenticate
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest
from finsandbox.gateway.backends import Backend, ChatChunk, ChatRequest, ChatResult, Usage, get_backend
from finsandbox.gateway.metering import CallRecord, record_call
from finsandbox.gateway.quotas import Quotas, make_quotas
from finsandbox.gateway.schemas import ChatCompletionRequest
from finsandbox.programme.workspaces import get_endpoint, list_endpoints
from finsandbox.store.db import session_scope
from finsandbox.store.models import ApiKey

TRIAL_HEADER = "X-Finsandbox-Trial"
CASE_HEADER = "X-Finsandbox-Case"
_TRIAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_CASE_ID = re.compile(r"^[A-Za-z0-9._:/@#-]{1,300}$")


@lru_cache(maxsize=1)
def quotas() -> Quotas:
    return make_quotas(get_settings().redis_url)


@dataclass(frozen=True)
class Admitted:
    """An authenticated, quota-admitted call bound to one endpoint."""

    key_id: str
    key_prefix: str
    workspace_id: str
    endpoint: str
    backend_kind: str
    backend_config: dict[str, Any]
    trial_id: str | None
    case_id: str | None = None

    def backend(self) -> Backend:
        return get_backend(self.backend_kind, self.backend_config)


def check_trial_header(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _TRIAL_ID.match(value):
        raise InvalidRequest(
            f"the {TRIAL_HEADER} header must be 1-100 letters, digits or . _ : -", param=TRIAL_HEADER
        )
    return value


def check_case_header(value: str | None) -> str | None:
    """The case a trial call belongs to; only meaningful together with a trial header."""
    if value is None or value == "":
        return None
    if not _CASE_ID.match(value):
        raise InvalidRequest(
            f"the {CASE_HEADER} header must be 1-300 characters of A-Z a-z 0-9 . _ : / @ # -"
        )
    return value


def _admit(
    secret: str | None,
    model: str | None,
    trial_id: str | None,
    parse_error: FinsandboxError | None,
    case_id: str | None = None,
) -> Admitted:
    with session_scope(write=True) as session:
        key = authenticate(session, secret)
        if parse_error is not None:
            raise parse_error
        assert model is not None
        endpoint = get_endpoint(session, key.workspace_id, model)
        quotas().admit(session, key)
        return Admitted(
            key_id=key.id,
            key_prefix=key.prefix,
            workspace_id=key.workspace_id,
            endpoint=endpoint.name,
            backend_kind=endpoint.backend,
            backend_config=dict(endpoint.config),
            trial_id=trial_id,
            case_id=case_id if trial_id else None,
        )


async def admit(
    secret: str | None,
    model: str | None,
    trial_id: str | None,
    parse_error: FinsandboxError | None = None,
    case_id: str | None = None,
) -> Admitted:
    """Authenticate first (so an anonymous caller learns nothing else), then validate and admit."""
    return await anyio.to_thread.run_sync(_admit, secret, model, trial_id, parse_error, case_id)


def _record(call: CallRecord) -> int:
    with session_scope(write=True) as session:
        key = session.get(ApiKey, call.key_id)
        assert key is not None
        tokens = call.prompt_tokens + call.completion_tokens
        quotas().record(session, key, tokens)
        usage = record_call(session, call)
        return usage.ledger_seq or 0


async def record(call: CallRecord) -> int:
    """Write the meter and ledger even if the caller's task is being cancelled."""
    with anyio.CancelScope(shield=True):
        return await anyio.to_thread.run_sync(_record, call)


def to_backend_request(req: ChatCompletionRequest) -> ChatRequest:
    messages = [
        {"role": m.role if m.role != "developer" else "system", "content": m.text()} for m in req.messages
    ]
    if not any(m["content"].strip() for m in messages):
        raise InvalidRequest("every message is empty; send some text", param="messages")
    return ChatRequest(
        messages=messages,
        max_tokens=req.token_limit,
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        stop=req.stop_list,
    )


def prompt_digest(request: ChatRequest) -> str:
    return ledger.sha256_hex(ledger.canonical(request.messages))


def _call(
    admitted: Admitted, backend: Backend, stream: bool, status: str, digest: str, **kw: Any
) -> CallRecord:
    return CallRecord(
        workspace_id=admitted.workspace_id,
        key_id=admitted.key_id,
        key_prefix=admitted.key_prefix,
        endpoint=admitted.endpoint,
        backend=admitted.backend_kind,
        model=backend.model_name,
        trial_id=admitted.trial_id,
        case_id=admitted.case_id,
        stream=stream,
        status=status,
        prompt_digest=digest,
        **kw,
    )


async def complete(admitted: Admitted, request: ChatRequest) -> tuple[ChatResult, int]:
    """A non-streaming call; returns the result and the ledger sequence number of its entry."""
    backend = admitted.backend()
    digest = prompt_digest(request)
    started = time.perf_counter()
    try:
        result = await backend.complete(request)
    except FinsandboxError as exc:
        await record(
            _call(
                admitted,
                backend,
                False,
                f"error:{exc.code or exc.error_type}",
                digest,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=exc.message,
            )
        )
        raise
    seq = await record(
        _call(
            admitted,
            backend,
            False,
            "ok",
            digest,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            completion_digest=ledger.sha256_hex(result.text),
            finish_reason=result.finish_reason,
        )
    )
    return result, seq


@dataclass
class StreamState:
    """Accumulated while streaming, so the record written at the end is complete."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    status: str = "client_disconnected"
    error: str | None = None


async def open_stream(
    admitted: Admitted, request: ChatRequest
) -> tuple[ChatChunk, AsyncIterator[ChatChunk], float]:
    """Start a stream and fetch its first chunk, so early upstream errors still get a proper status."""
    backend = admitted.backend()
    started = time.perf_counter()
    chunks = backend.stream(request)
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = ChatChunk(finish_reason="stop", usage=Usage())
    except FinsandboxError as exc:
        await record(
            _call(
                admitted,
                backend,
                True,
                f"error:{exc.code or exc.error_type}",
                prompt_digest(request),
                latency_ms=(time.perf_counter() - started) * 1000,
                error=exc.message,
            )
        )
        raise
    return first, chunks, started


async def finish_stream(admitted: Admitted, request: ChatRequest, state: StreamState, started: float) -> int:
    backend = admitted.backend()
    usage = state.usage or Usage()
    return await record(
        _call(
            admitted,
            backend,
            True,
            state.status,
            prompt_digest(request),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            completion_digest=ledger.sha256_hex(state.text),
            finish_reason=state.finish_reason,
            error=state.error,
        )
    )


def _models(secret: str | None) -> tuple[str, list[tuple[str, str, float]]]:
    with session_scope() as session:
        key = authenticate(session, secret)
        endpoints = list_endpoints(session, key.workspace_id)
        return key.workspace.slug, [(e.name, e.backend, e.created_at.timestamp()) for e in endpoints]


async def models(secret: str | None) -> tuple[str, list[tuple[str, str, float]]]:
    return await anyio.to_thread.run_sync(_models, secret)
