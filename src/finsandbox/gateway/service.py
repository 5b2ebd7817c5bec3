"""One gateway call, from authenticated key to metered, guarded answer.

    admit        key -> workspace -> endpoint -> quota, committed before the call goes on
    input guards the caller's messages, redacted or blocked, before any backend sees them
    backend      complete or stream
    output guards the reply (or each window of a stream) before the caller sees it
    record       quota tokens, usage row, ledger entry with the redacted prompt and
                 completion and every guard decision, committed before the caller hears back

Both database steps are jobs for the process's group-commit writer (writer.py): one thread,
one connection, many calls per transaction, each caller resumed only after its COMMIT. The
model call is async.
A call that fails or is blocked after admission is still recorded, so the ledger and the
meter see every request that reached the gateway's guards.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import anyio
from sqlalchemy import Connection, bindparam, select

from finsandbox import ledger
from finsandbox.access.closure import closed_error, is_closed
from finsandbox.access.keys import KEY_SCHEME, authenticate
from finsandbox.config import get_settings
from finsandbox.errors import (
    AuthenticationFailed,
    FinsandboxError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from finsandbox.gateway.backends import Backend, ChatChunk, ChatRequest, ChatResult, Usage, get_backend
from finsandbox.gateway.guarding import GuardedCall, with_canary
from finsandbox.gateway.metering import CallRecord, RecordCall
from finsandbox.gateway.quotas import Quotas, make_quotas
from finsandbox.gateway.schemas import ChatCompletionRequest
from finsandbox.gateway.writer import Job, writer
from finsandbox.ledger.chain import Head, append_after
from finsandbox.programme.workspaces import list_endpoints
from finsandbox.store.db import session_scope
from finsandbox.store.models import ApiKey, Endpoint, Trial, Workspace

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


class TrialNotOwned(PermissionDenied):
    """A trial header names a trial of another workspace (or none): evidence goes only to its owner."""

    code = "trial_not_in_workspace"


_keys = ApiKey.__table__
_trial_owner = (
    select(Trial.__table__.c.workspace_id).where(Trial.__table__.c.id == bindparam("trial")).limit(1)
)
_workspaces = Workspace.__table__
_endpoints = Endpoint.__table__
_KEY = (
    select(
        _keys.c.id,
        _keys.c.prefix,
        _keys.c.key_hash,
        _keys.c.workspace_id,
        _keys.c.revoked_at,
        _keys.c.expires_at,
        _keys.c.rpm_limit,
        _keys.c.tpm_limit,
        _keys.c.token_budget,
        _keys.c.tokens_used,
        _workspaces.c.guard_policy,
        _workspaces.c.slug.label("workspace_slug"),
        _workspaces.c.status.label("workspace_status"),
    )
    .join_from(_keys, _workspaces, _keys.c.workspace_id == _workspaces.c.id)
    .where(_keys.c.prefix == bindparam("prefix"))
)
_ENDPOINT = select(
    _endpoints.c.name,
    _endpoints.c.backend,
    _endpoints.c.config,
    _endpoints.c.customer_facing,
    _endpoints.c.canary,
).where(
    _endpoints.c.workspace_id == bindparam("ws"),
    _endpoints.c.name == bindparam("name"),
    _endpoints.c.enabled.is_(True),
)


def _key_prefix(secret: str | None) -> str:
    """The prefix of a well-formed secret; refuses a missing or foreign one before any database work."""
    if not secret:
        raise AuthenticationFailed(
            "no API key given: send it as 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != KEY_SCHEME:
        raise AuthenticationFailed("the API key is not a finsandbox key")
    return f"{parts[0]}_{parts[1]}"


class AdmitCall(Job[Admitted]):
    """Authenticate, find the endpoint and count the request, inside the writer's transaction.

    The same checks, order and messages as `access.keys.authenticate`, `get_endpoint` and the
    quotas, on Core rows read fresh in the transaction that counts the request: nothing about a
    key is cached, so a revocation, expiry or budget change applies to the very next call in
    every process. Every refusal is raised before the only write (the request counter).
    """

    def __init__(
        self,
        secret: str,
        model: str | None,
        trial_id: str | None,
        parse_error: FinsandboxError | None,
        case_id: str | None,
    ) -> None:
        self.prefix = _key_prefix(secret)
        self.digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        self.model = model
        self.trial_id = trial_id
        self.parse_error = parse_error
        self.case_id = case_id
        self.admitted: Admitted | None = None
        self.refused: FinsandboxError | None = None
        self.refused_key: tuple[str, str] = ("", "")

    def rows(self, conn: Connection) -> None:
        key = conn.execute(_KEY, {"prefix": self.prefix}).first()
        if key is None or not hmac.compare_digest(key.key_hash, self.digest):
            raise AuthenticationFailed("the API key is not valid")
        if is_closed(key.workspace_status):
            raise closed_error(key.workspace_slug, key.workspace_status, "call models")
        if key.revoked_at is not None:
            raise AuthenticationFailed(f"the API key {self.prefix} has been revoked", code="revoked_api_key")
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise AuthenticationFailed(f"the API key {self.prefix} has expired", code="expired_api_key")
        if self.parse_error is not None:
            raise self.parse_error
        assert self.model is not None
        endpoint = conn.execute(_ENDPOINT, {"ws": key.workspace_id, "name": self.model}).first()
        if endpoint is None:
            raise NotFound(
                f"the model {self.model!r} does not exist in this workspace", code="model_not_found"
            )
        if self.trial_id is not None:
            owner = conn.execute(_trial_owner, {"trial": self.trial_id}).scalar()
            if owner != key.workspace_id:
                # Unknown and foreign trials read alike, so trial ids of other banks cannot be probed.
                self.refused = TrialNotOwned(
                    f"{TRIAL_HEADER} {self.trial_id!r} is not a trial of this key's workspace; "
                    "a call can only be evidence for its own workspace's trials",
                    param=TRIAL_HEADER,
                )
                self.needs_ledger = True  # the refusal is recorded, and nothing else is written
                self.refused_key = (key.prefix, key.workspace_id)
                return
        quotas().admit(conn, key)
        self.admitted = Admitted(
            key_id=key.id,
            key_prefix=key.prefix,
            workspace_id=key.workspace_id,
            endpoint=endpoint.name,
            backend_kind=endpoint.backend,
            backend_config=dict(endpoint.config),
            trial_id=self.trial_id,
            case_id=self.case_id if self.trial_id else None,
            guard_policy=key.guard_policy,
            customer_facing=endpoint.customer_facing,
            canary=endpoint.canary,
        )

    def ledger(self, conn: Connection, head: Head) -> Head:
        """Only for a refused trial header: who tried to write evidence into which trial."""
        prefix, workspace_id = self.refused_key
        return append_after(
            conn,
            head,
            actor=f"key:{prefix}",
            kind="gateway.refused",
            workspace_id=workspace_id,
            payload={"reason": "trial_not_in_workspace", "trial": self.trial_id, "case": self.case_id},
        )

    def result(self) -> Admitted:
        if self.refused is not None:
            raise self.refused
        assert self.admitted is not None
        return self.admitted


async def admit(
    secret: str | None,
    model: str | None,
    trial_id: str | None,
    parse_error: FinsandboxError | None = None,
    case_id: str | None = None,
) -> Admitted:
    """Authenticate first (so an anonymous caller learns nothing else), then validate and admit.

    Returns only once the request is counted and committed (group commit, see writer.py).
    """
    job = AdmitCall(secret or "", model, trial_id, parse_error, case_id)
    return await writer().run(job)


async def record(call: CallRecord) -> int:
    """Write the meter and ledger even if the caller's task is being cancelled; returns the seq.

    Returns only after the transaction holding the call's ledger entry has committed.
    """
    with anyio.CancelScope(shield=True):
        return await writer().run(RecordCall(call, quotas()))


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
