"""One gateway call, from authenticated key to metered, guarded answer.

    admit        one write transaction: key -> workspace -> endpoint -> quota
    input guards the caller's messages, redacted or blocked, before any backend sees them
    backend      complete or stream
    output guards the reply (or each window of a stream) before the caller sees it
    record       one write transaction: quota tokens, usage row, ledger entry with the
                 redacted prompt and completion and every guard decision

Database work is synchronous SQLAlchemy run in worker threads; the model call is async.
A call that fails or is blocked after admission is still recorded, so the ledger and the
meter see every request that reached the gateway's guards.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import anyio

from finsandbox import ledger
from finsandbox.access.keys import authenticate
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest
from finsandbox.gateway.backends import Backend, ChatChunk, ChatRequest, ChatResult, Usage, get_backend
from finsandbox.gateway.guarding import GuardedCall, with_canary
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


class GuardBlockedCall(FinsandboxError):
    """A guard blocked the input or the output of a call; the body lists the decisions."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "guard_blocked"


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
    guard_policy: str | None = None
    customer_facing: bool = False
    canary: str | None = None

    def backend(self) -> Backend:
        return get_backend(self.backend_kind, self.backend_config)

    def guards(self) -> GuardedCall:
        return GuardedCall.start(
            self.guard_policy,
            workspace_id=self.workspace_id,
            endpoint=self.endpoint,
            customer_facing=self.customer_facing,
            canary=self.canary,
        )


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
            guard_policy=key.workspace.guard_policy,
            customer_facing=endpoint.customer_facing,
            canary=endpoint.canary,
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


def precheck(req: ChatCompletionRequest) -> None:
    """Refuse content no backend can take (non-text parts, nothing but empty messages)."""
    texts = [m.text() for m in req.messages]
    if not any(t.strip() for t in texts):
        raise InvalidRequest("every message is empty; send some text", param="messages")


def _flatten(content: Any) -> str:
    """Plain text of a (guarded) message content: a string or nested text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in content:
        if isinstance(part, dict):
            if isinstance(part.get("text"), str):
                pieces.append(part["text"])
            if part.get("content") is not None:
                pieces.append(_flatten(part["content"]))
    return "\n".join(p for p in pieces if p)


def to_backend_request(
    req: ChatCompletionRequest, messages: list[dict[str, Any]], canary: str | None
) -> ChatRequest:
    """The backend's request: the guarded messages as plain text, with the endpoint's canary."""
    plain = [
        {
            "role": "system" if m.get("role") == "developer" else str(m.get("role")),
            "content": _flatten(m.get("content")),
        }
        for m in messages
    ]
    if not any(m["content"].strip() for m in plain):
        raise InvalidRequest("every message is empty; send some text", param="messages")
    return ChatRequest(
        messages=with_canary(plain, canary),
        max_tokens=req.token_limit,
        temperature=req.temperature,
        top_p=req.top_p,
        seed=req.seed,
        stop=req.stop_list,
    )


@dataclass
class Call:
    """One admitted call in flight: what the ledger will learn about it."""

    admitted: Admitted
    stream: bool
    guards: GuardedCall
    started: float = field(default_factory=time.perf_counter)
    prompt: list[dict[str, str]] | None = None
    prompt_digest: str = ""

    def record(self, status: str, **kw: Any) -> CallRecord:
        a = self.admitted
        extra: dict[str, Any] = {"guard_decisions": self.guards.decisions}
        if self.prompt is not None:
            extra["prompt"] = self.prompt
        if "completion" in kw:
            extra["completion"] = kw.pop("completion")
        blocked = self.guards.blocked_by()
        if blocked:
            extra["blocked_by"] = {"guard": blocked["guard"], "location": blocked.get("location")}
        try:
            model = a.backend().model_name
        except FinsandboxError:
            model = a.endpoint
        return CallRecord(
            workspace_id=a.workspace_id,
            key_id=a.key_id,
            key_prefix=a.key_prefix,
            endpoint=a.endpoint,
            backend=a.backend_kind,
            model=model,
            trial_id=a.trial_id,
            case_id=a.case_id,
            stream=self.stream,
            status=status,
            prompt_digest=self.prompt_digest,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            extra=extra,
            **kw,
        )

    async def blocked(self, direction: str) -> GuardBlockedCall:
        """Record a blocked call and return the error to raise."""
        seq = await record(self.record("blocked"))
        decision = self.guards.blocked_by() or {"guard": "unknown", "reason": "blocked"}
        error = GuardBlockedCall(
            f"{direction} blocked by guard '{decision['guard']}': {decision['reason']}", param=direction
        )
        error.extra = {"ledger_seq": seq, "guard_decisions": self.guards.decisions}
        return error

    async def failed(self, exc: FinsandboxError) -> None:
        await record(self.record(f"error:{exc.code or exc.error_type}", error=exc.message))


async def start_call(
    admitted: Admitted, parsed: ChatCompletionRequest, raw_messages: list[dict[str, Any]]
) -> tuple[Call, ChatRequest]:
    """Run the input guards; returns the call and the backend request built from the guarded messages."""
    call = Call(admitted=admitted, stream=parsed.stream, guards=admitted.guards())
    call.prompt_digest = ledger.sha256_hex(ledger.canonical(raw_messages))
    try:
        guarded = await call.guards.check_input(raw_messages)
    except FinsandboxError as exc:  # too large, malformed parts: recorded without any text
        await call.failed(exc)
        raise
    if guarded is None:
        raise await call.blocked("input")
    call.prompt = [{"role": str(m.get("role")), "content": _flatten(m.get("content"))} for m in guarded]
    try:
        request = to_backend_request(parsed, guarded, admitted.canary)
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    return call, request


async def complete(call: Call, request: ChatRequest) -> tuple[ChatResult, int, list[dict[str, Any]]]:
    """A non-streaming call: backend, output guards, record. Returns result, ledger seq, decisions."""
    backend = call.admitted.backend()
    try:
        result = await backend.complete(request)
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    text = await call.guards.check_output(result.text)
    usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens}
    if text is None:
        error = await call.blocked("output")
        raise error
    seq = await record(
        call.record(
            "ok",
            completion=text,
            completion_digest=ledger.sha256_hex(text),
            finish_reason=result.finish_reason,
            **usage,
        )
    )
    guarded = ChatResult(
        text=text, finish_reason=result.finish_reason, usage=result.usage, model=result.model
    )
    return guarded, seq, call.guards.decisions


@dataclass
class StreamState:
    """Accumulated while streaming, so the record written at the end is complete."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    status: str = "client_disconnected"
    error: str | None = None


async def open_stream(call: Call, request: ChatRequest) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
    """Start a stream and fetch its first chunk, so early upstream errors still get a proper status."""
    chunks = call.admitted.backend().stream(request)
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = ChatChunk(finish_reason="stop", usage=Usage())
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    return first, chunks


async def finish_stream(call: Call, state: StreamState) -> int:
    usage = state.usage or Usage()
    return await record(
        call.record(
            state.status,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            completion=state.text,
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
