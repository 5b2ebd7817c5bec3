"""One gateway call, from authenticated key to metered, guarded answer, streamed or not.

    chat         the whole call; the HTTP route only translates its result (or its stream
                 of events) into OpenAI's JSON or server-sent events
    admit        key -> workspace -> endpoint -> quota, committed before the call goes on
    input guards the caller's messages, redacted or blocked, before any backend sees them
    backend      complete or stream
    output guards the reply, or the stream as it arrives, before the caller sees it; every
                 piece of model text passes `Call.guards` (check_output, feed, finish)
    record       `Call.conclude`, the one place a call's outcome is recorded: quota tokens,
                 usage row, ledger entry with the redacted prompt and completion and every
                 guard decision, committed before the caller hears back

Both database steps are jobs for the process's group-commit writer (writer.py): one thread,
one connection, many calls per transaction, each caller resumed only after its COMMIT. The
model call is async.
A call that fails or is blocked after admission is still recorded, so the ledger and the
meter see every request that reached the gateway's guards.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import anyio
from sqlalchemy import Connection, bindparam, select

from finsandbox import ledger
from finsandbox.access.keys import authenticate, check_key, key_digest, key_prefix
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest, NotFound, PermissionDenied
from finsandbox.gateway.backends import (
    Backend,
    ChatChunk,
    ChatRequest,
    ToolCall,
    Usage,
    backend_class,
    get_backend,
)
from finsandbox.gateway.checking import GatewayModelCaller
from finsandbox.gateway.endpoints import list_endpoints
from finsandbox.gateway.guarding import GuardedCall, with_canary
from finsandbox.gateway.metering import CallRecord, RecordCall
from finsandbox.gateway.quotas import Quotas, Reservation, make_quotas, plan_reservation
from finsandbox.gateway.schemas import ChatCompletionRequest, parse_chat_request
from finsandbox.gateway.writer import Job, writer
from finsandbox.guards import Action, Decision, GuardBlocked, contains_canary, mask_canary
from finsandbox.ledger.chain import Head, append_after
from finsandbox.store.db import session_scope
from finsandbox.store.models import ApiKey, Endpoint, Trial, Workspace
from finsandbox.store.prepared import Prepared

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
    guard_policy: str | None = None
    customer_facing: bool = False
    canary: str | None = None
    # Called with the trial's own key: the reply carries the model view for the trial's scorers.
    trial_key: bool = False
    # Tokens held against the key's budget and per-minute limit until the call is recorded.
    reservation: Reservation = field(default_factory=Reservation)

    def backend(self) -> Backend:
        return get_backend(self.backend_kind, self.backend_config)

    def guards(self) -> GuardedCall:
        """The call's guards, with a model caller for a checker guard (called from the event loop)."""
        caller = GatewayModelCaller(
            workspace_id=self.workspace_id,
            key_id=self.key_id,
            key_prefix=self.key_prefix,
            checked_endpoint=self.endpoint,
            loop=asyncio.get_running_loop(),
            quotas=quotas(),
            trial_id=self.trial_id,
            case_id=self.case_id,
        )
        return GuardedCall.start(
            self.guard_policy,
            workspace_id=self.workspace_id,
            endpoint=self.endpoint,
            customer_facing=self.customer_facing,
            canary=self.canary,
            model_caller=caller,
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
_TRIAL_OWNER = Prepared(
    select(Trial.__table__.c.workspace_id, Trial.__table__.c.config)
    .where(Trial.__table__.c.id == bindparam("trial"))
    .limit(1)
)
_workspaces = Workspace.__table__
_endpoints = Endpoint.__table__
# The key, its workspace and the named endpoint (absent when none is enabled by that name) in one
# statement, run on the driver (store/prepared.py): the writer runs it for every call.
_KEY_AND_ENDPOINT = Prepared(
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
        _endpoints.c.name.label("endpoint_name"),
        _endpoints.c.backend.label("endpoint_backend"),
        _endpoints.c.config.label("endpoint_config"),
        _endpoints.c.customer_facing.label("endpoint_customer_facing"),
        _endpoints.c.canary.label("endpoint_canary"),
    )
    .join_from(_keys, _workspaces, _keys.c.workspace_id == _workspaces.c.id)
    .outerjoin(
        _endpoints,
        (_endpoints.c.workspace_id == _keys.c.workspace_id)
        & (_endpoints.c.name == bindparam("name"))
        & _endpoints.c.enabled.is_(True),
    )
    .where(_keys.c.prefix == bindparam("prefix"))
)


@dataclass(frozen=True)
class _KeyWorkspace:
    slug: str
    status: str


class AdmitCall(Job[Admitted]):
    """Authenticate, find the endpoint and count the request, inside the writer's transaction.

    The key is checked by `access.keys` (as `authenticate` does), on a Core row read fresh in
    the transaction that counts the request: nothing about a key is cached, so a revocation,
    expiry or budget change applies to the very next call in every process. Every refusal is
    raised before the only write (the request counter).
    """

    def __init__(
        self,
        secret: str,
        model: str | None,
        trial_id: str | None,
        parse_error: FinsandboxError | None,
        case_id: str | None,
        tokens: tuple[int, int | None] = (0, None),
    ) -> None:
        self.tokens = tokens  # (prompt estimate, requested output limit) to reserve
        self.prefix = key_prefix(secret)  # a malformed key is refused before any database work
        self.digest = key_digest(secret)
        self.model = model
        self.trial_id = trial_id
        self.parse_error = parse_error
        self.case_id = case_id
        self.admitted: Admitted | None = None
        self.trial_key = False
        self.refused: FinsandboxError | None = None
        self.refused_key: tuple[str, str] = ("", "")

    def rows(self, conn: Connection) -> None:
        key = _KEY_AND_ENDPOINT.run(conn, {"prefix": self.prefix, "name": self.model}).first()
        workspace = _KeyWorkspace(key.workspace_slug, key.workspace_status) if key else None
        check_key(key, self.prefix, self.digest, workspace=workspace)  # type: ignore[arg-type]
        assert key is not None
        if self.parse_error is not None:
            raise self.parse_error
        assert self.model is not None
        if key.endpoint_name is None:
            raise NotFound(
                f"the model {self.model!r} does not exist in this workspace", code="model_not_found"
            )
        if self.trial_id is not None:
            trial = _TRIAL_OWNER.run(conn, {"trial": self.trial_id}).first()
            owner = trial.workspace_id if trial else None
            # The trial's own key (minted by the runner, revoked when it ends) may see the model view.
            self.trial_key = bool(trial) and (trial.config or {}).get("key_prefix") == key.prefix
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
        reservation = Reservation()
        if key.token_budget is not None or key.tpm_limit is not None:
            reservation = plan_reservation(key, *self.tokens)
        quotas().admit(conn, key, reservation)
        self.admitted = Admitted(
            key_id=key.id,
            key_prefix=key.prefix,
            workspace_id=key.workspace_id,
            endpoint=key.endpoint_name,
            backend_kind=key.endpoint_backend,
            backend_config=dict(key.endpoint_config),
            trial_id=self.trial_id,
            case_id=self.case_id if self.trial_id else None,
            guard_policy=key.guard_policy,
            customer_facing=key.endpoint_customer_facing,
            canary=key.endpoint_canary,
            trial_key=self.trial_key,
            reservation=reservation,
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
    tokens: tuple[int, int | None] = (0, None),
) -> Admitted:
    """Authenticate first (so an anonymous caller learns nothing else), then validate and admit,
    reserving `tokens` (prompt estimate, output limit) against a limited key.

    Returns only once the request is counted and committed (group commit, see writer.py).
    """
    job = AdmitCall(secret or "", model, trial_id, parse_error, case_id, tokens)
    return await writer().run(job)


async def record(call: CallRecord) -> int:
    """Write the meter and ledger even if the caller's task is being cancelled; returns the seq.

    Returns only after the transaction holding the call's ledger entry has committed.
    """
    with anyio.CancelScope(shield=True):
        return await writer().run(RecordCall(call, quotas()))


def precheck(req: ChatCompletionRequest) -> None:
    """Refuse content no backend can take (non-text parts, nothing but empty messages) and tool
    parameters OpenAI would refuse."""
    req.check_tools()
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


def _plain_message(m: dict[str, Any]) -> dict[str, Any]:
    """A guarded message as a backend takes it: plain text, with its tool calls or the id of the call
    it answers (a message of tool calls alone has no content, as OpenAI sends it)."""
    out: dict[str, Any] = {
        "role": "system" if m.get("role") == "developer" else str(m.get("role")),
        "content": _flatten(m.get("content")),
    }
    if m.get("tool_calls"):
        out["tool_calls"] = [
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]).openai()
            for c in m["tool_calls"]
        ]
        out["content"] = out["content"] or None
    if m.get("tool_call_id") is not None:
        out["tool_call_id"] = m["tool_call_id"]
    return out


def to_backend_request(
    req: ChatCompletionRequest, messages: list[dict[str, Any]], canary: str | None
) -> ChatRequest:
    """The backend's request: the guarded messages as plain text, with the endpoint's canary."""
    plain = [_plain_message(m) for m in messages]
    if not any((m["content"] or "").strip() or m.get("tool_calls") for m in plain):
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
class Outcome:
    """How a call ended: everything `Call.conclude` records beyond what the call already knows."""

    status: str
    completion: str | None = None  # the guarded text the caller received (None: nothing was sent)
    tool_calls: list[dict[str, Any]] | None = None  # the guarded tool calls the caller received
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None


@dataclass
class Call:
    """One admitted call in flight: what the ledger will learn about it."""

    admitted: Admitted
    stream: bool
    guards: GuardedCall
    started: float = field(default_factory=time.perf_counter)
    prompt: list[dict[str, str]] | None = None
    prompt_digest: str = ""

    def record(self, outcome: Outcome) -> CallRecord:
        a = self.admitted
        extra: dict[str, Any] = {"guard_decisions": self.guards.decisions}
        if self.prompt is not None:
            extra["prompt"] = self.prompt
        if outcome.completion is not None:
            extra["completion"] = outcome.completion
        if outcome.tool_calls:
            extra["tool_calls"] = outcome.tool_calls
            extra["tool_calls_digest"] = ledger.sha256_hex(ledger.canonical(outcome.tool_calls))
        blocked = self.guards.blocked_by()
        if blocked:
            extra["blocked_by"] = {"guard": blocked["guard"], "location": blocked.get("location")}
        try:
            model = a.backend().model_name
        except FinsandboxError:
            model = a.endpoint
        usage = outcome.usage or Usage()
        return CallRecord(
            workspace_id=a.workspace_id,
            key_id=a.key_id,
            key_prefix=a.key_prefix,
            endpoint=a.endpoint,
            backend=a.backend_kind,
            model=model,
            trial_id=a.trial_id,
            case_id=a.case_id,
            reservation=a.reservation,
            trial_key=a.trial_key,
            stream=self.stream,
            status=outcome.status,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            prompt_digest=self.prompt_digest,
            completion_digest=None if outcome.completion is None else ledger.sha256_hex(outcome.completion),
            finish_reason=outcome.finish_reason,
            error=outcome.error,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            extra=extra,
        )

    async def conclude(self, outcome: Outcome) -> int:
        """Record how the call ended (the one place a call's outcome is recorded); returns the seq."""
        return await record(self.record(outcome))

    async def blocked(
        self, direction: str, model_text: str | None = None, usage: Usage | None = None
    ) -> GuardBlocked:
        """Record a blocked call and return the error to raise (its body lists the decisions)."""
        seq = await self.conclude(Outcome("blocked", usage=usage))
        error = GuardBlocked(self.guards.block or _UNKNOWN_BLOCK, direction)
        error.extra = {"ledger_seq": seq, "guard_decisions": self.guards.decisions}
        view = self.model_view(model_text, None)
        if view is not None:
            error.extra["model_view"] = view
        return error

    def model_view(self, model_text: str | None, delivered: str | None) -> dict[str, Any] | None:
        """The answer before the output guards, for the trial's own key only; never recorded.

        A trial judges the model (inherent risk) and the system (residual risk) separately, so its
        runner needs what the model said before the guards masked or blocked it. It holds the text
        in memory to score it; the ledger keeps only the guarded text. The endpoint's canary is
        masked (its presence is reported), so the secret never leaves the gateway.
        """
        if not self.admitted.trial_key or model_text is None:
            return None
        canary = self.admitted.canary
        return {
            "text": mask_canary(model_text, canary) if canary else model_text,
            "canary": bool(canary) and contains_canary(model_text, canary),
            "delivered_canary": bool(canary) and delivered is not None and contains_canary(delivered, canary),
        }

    async def failed(self, exc: FinsandboxError) -> None:
        await self.conclude(Outcome(_error_status(exc), error=exc.message))


_UNKNOWN_BLOCK = Decision("unknown", Action.BLOCK, "", "blocked", 1.0)


def _error_status(exc: FinsandboxError) -> str:
    return f"error:{exc.code or exc.error_type}"


@dataclass(frozen=True)
class Completion:
    """A non-streamed answer as the caller receives it, with its ledger entry."""

    endpoint: str
    text: str
    finish_reason: str
    usage: Usage
    ledger_seq: int
    guard_decisions: list[dict[str, Any]]
    # Only for a trial's own key (see `Call.model_view`).
    model_view: dict[str, Any] | None = None
    tool_calls: tuple[ToolCall, ...] = ()


async def chat(
    secret: str | None,
    data: Any,
    parse_error: FinsandboxError | None = None,
    *,
    trial_header: str | None = None,
    case_header: str | None = None,
) -> Completion | ChatStream:
    """One chat completion call, from the caller's key and decoded body to a guarded answer.

    A malformed body is reported only once the caller is authenticated, and a request refused
    for its content (`precheck`) spends no quota. A streaming call returns once its first
    backend chunk has arrived, so an upstream that fails at once still gets a proper HTTP status.
    """
    parsed: ChatCompletionRequest | None = None
    if parse_error is None:
        try:
            parsed = parse_chat_request(data)
            precheck(parsed)
        except FinsandboxError as exc:
            parse_error = exc
    trial = check_trial_header(trial_header)
    case = check_case_header(case_header)
    tokens = (parsed.prompt_estimate(), parsed.token_limit) if parsed else (0, None)
    admitted = await admit(secret, parsed.model if parsed else None, trial, parse_error, case, tokens)
    assert parsed is not None  # admit raises the parse error once the key is known
    call, request = await start_call(admitted, parsed, data["messages"])
    if parsed.stream:
        options = parsed.stream_options
        return await ChatStream.open(call, request, bool(options and options.include_usage))
    return await complete(call, request)


def with_features(req: ChatCompletionRequest, request: ChatRequest, admitted: Admitted) -> ChatRequest:
    """Pass OpenAI features the endpoint's backend declares it supports; refuse the others by name."""
    backend = backend_class(admitted.backend_kind)
    if req.wants_tools and not backend.supports_tools:
        raise InvalidRequest(
            f"endpoint {admitted.endpoint!r} ({admitted.backend_kind} backend) does not support tool "
            "calling; send the request without tools, tool_choice or tool calls in its messages, "
            "or use an endpoint whose backend does (openai)",
            param="tools",
            code="unsupported_parameter",
        )
    if req.tools:
        choice = req.tool_choice
        request = replace(
            request,
            tools=[t.model_dump(exclude_none=True) for t in req.tools],
            tool_choice=choice.model_dump() if hasattr(choice, "model_dump") else choice,
            parallel_tool_calls=req.parallel_tool_calls,
        )
    if req.store:
        raise InvalidRequest(
            "the gateway never asks a model provider to store a conversation; send store false or omit it",
            param="store",
            code="unsupported_parameter",
        )
    if req.logprobs or req.top_logprobs:
        raise InvalidRequest(
            "log probabilities are not returned through the gateway's output guards; "
            "omit logprobs and top_logprobs",
            param="logprobs" if req.logprobs else "top_logprobs",
            code="unsupported_parameter",
        )
    options = req.sampling_options
    for name in options:
        if name not in backend.supported_options:
            raise InvalidRequest(
                f"endpoint {admitted.endpoint!r} ({admitted.backend_kind} backend) does not support {name}",
                param=name,
                code="unsupported_parameter",
            )
    if options:
        request = replace(request, options=options)
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return request
    if not backend.supports_response_format:
        raise InvalidRequest(
            f"endpoint {admitted.endpoint!r} ({admitted.backend_kind} backend) does not support "
            f"response_format {fmt.type!r}",
            param="response_format",
            code="unsupported_parameter",
        )
    return replace(request, response_format=fmt.model_dump(exclude_none=True))


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
        model_text, usage = await _probe(call, parsed, raw_messages)
        raise await call.blocked("input", model_text, usage)
    call.prompt = [_prompt_entry(m) for m in guarded]
    try:
        request = to_backend_request(parsed, guarded, admitted.canary)
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    try:
        request = with_features(parsed, request, admitted)
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    cap = admitted.reservation.output_cap
    if cap is not None and (request.max_tokens is None or request.max_tokens > cap):
        request = replace(request, max_tokens=cap)  # what the key's budget has left
    return call, request


def _prompt_entry(m: dict[str, Any]) -> dict[str, Any]:
    """A guarded message as the ledger records it: its text, and its tool calls or call id if any."""
    entry: dict[str, Any] = {"role": str(m.get("role")), "content": _flatten(m.get("content"))}
    if m.get("tool_calls"):
        entry["tool_calls"] = m["tool_calls"]
    if m.get("tool_call_id") is not None:
        entry["tool_call_id"] = m["tool_call_id"]
    return entry


async def _probe(
    call: Call, parsed: ChatCompletionRequest, raw_messages: list[dict[str, Any]]
) -> tuple[str | None, Usage | None]:
    """A trial's own key learns what the model would have said to an input the guards blocked.

    Inherent risk is what the model does on its own, so a trial must measure the model even where
    an input guard stops the attack; the caller is still refused and the ledger records the block
    (with the probe's tokens, which were spent). Other keys never probe.
    """
    if not call.admitted.trial_key:
        return None, None
    try:
        probe = await call.guards.probe_input(raw_messages)
        if probe is None:
            return None, None
        result = await call.admitted.backend().complete(
            to_backend_request(parsed, probe, call.admitted.canary)
        )
    except FinsandboxError:
        return None, None  # no model view; the block stands either way
    return result.text, result.usage


async def complete(call: Call, request: ChatRequest) -> Completion:
    """A non-streaming call: backend, output guards, record."""
    try:
        result = await call.admitted.backend().complete(request)
    except FinsandboxError as exc:
        await call.failed(exc)
        raise
    text = result.text
    if result.text or not result.tool_calls:  # a reply of tool calls alone has no text to guard
        checked = await call.guards.check_output(result.text, request.response_format is not None)
        if checked is None:
            raise await call.blocked("output", result.text)
        text = checked
    tool_calls = await call.guards.check_tool_calls(result.tool_calls)
    if tool_calls is None:
        raise await call.blocked("output", result.text)
    seq = await call.conclude(
        Outcome(
            "ok",
            completion=text,
            tool_calls=[c.openai() for c in tool_calls],
            finish_reason=result.finish_reason,
            usage=result.usage,
        )
    )
    return Completion(
        endpoint=call.admitted.endpoint,
        text=call.guards.restore(text),  # the caller's own values back; the ledger kept `text`
        finish_reason=result.finish_reason,
        usage=result.usage,
        ledger_seq=seq,
        guard_decisions=call.guards.decisions,
        model_view=call.model_view(result.text, text),
        tool_calls=tuple(call.guards.restore_call(c) for c in tool_calls),
    )


# -- streaming ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamText:
    """Guarded text the caller may see now."""

    text: str


@dataclass(frozen=True)
class StreamToolCalls:
    """The reply's tool calls, complete and guarded (sent after its text, before its end)."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class StreamEnd:
    """The reply is complete and every piece of it has been sent (not yet recorded)."""

    finish_reason: str
    usage: Usage


@dataclass(frozen=True)
class StreamFailed:
    """The stream ends here with this error (a guard block or a backend failure); nothing follows."""

    error: FinsandboxError


@dataclass(frozen=True)
class StreamRecorded:
    """The call is in the ledger (only after a `StreamEnd`): a client told "done" finds it metered."""

    ledger_seq: int


StreamEvent = StreamText | StreamToolCalls | StreamEnd | StreamFailed | StreamRecorded


class ChatStream:
    """A streaming call after its first backend chunk; `events()` runs it to its recorded end."""

    def __init__(
        self,
        call: Call,
        request: ChatRequest,
        first: ChatChunk,
        rest: AsyncIterator[ChatChunk],
        include_usage: bool = False,
    ) -> None:
        self.call = call
        self.endpoint = call.admitted.endpoint
        self.include_usage = include_usage  # the caller asked for a final usage chunk
        self._request = request
        self._first = first
        self._rest = rest

    @classmethod
    async def open(cls, call: Call, request: ChatRequest, include_usage: bool = False) -> ChatStream:
        """Start the backend's stream and wait for its first chunk (early errors keep their status)."""
        chunks = call.admitted.backend().stream(request)
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = ChatChunk(finish_reason="stop", usage=Usage())
        except FinsandboxError as exc:
            await call.failed(exc)
            raise
        call.guards.open_stream(structured=request.response_format is not None)
        return cls(call, request, first, chunks, include_usage)

    async def _chunks(self) -> AsyncIterator[ChatChunk]:
        yield self._first
        if self._first.finish_reason is None:
            async for chunk in self._rest:
                yield chunk
                if chunk.finish_reason is not None:
                    return

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Guarded text as it is safe to send, then the tool calls (held until complete and guarded
        whole), then the end, then (once recorded) the ledger seq.

        A client that goes away mid-stream is recorded as `client_disconnected` with the text it
        was sent; the record is written even while the task is being cancelled.
        """
        call = self.call
        outcome = Outcome("client_disconnected")
        pieces = 0
        tool_calls: list[ToolCall] = []
        chunks = self._chunks()
        try:
            async for chunk in chunks:
                if chunk.text:
                    pieces += 1
                    released = await call.guards.feed(chunk.text)
                    if released:
                        yield StreamText(released)
                tool_calls.extend(chunk.tool_calls)
                if chunk.finish_reason:
                    outcome.finish_reason = chunk.finish_reason
                    outcome.usage = chunk.usage or self._estimated_usage(pieces + len(tool_calls))
            if pieces or not tool_calls:  # a reply of tool calls alone has no text to finish
                rest = await call.guards.finish()
                if rest:
                    yield StreamText(rest)
            if tool_calls:
                guarded = await call.guards.check_tool_calls(tuple(tool_calls))
                if guarded is None:
                    raise GuardBlocked(call.guards.block or _UNKNOWN_BLOCK, "output")
                outcome.tool_calls = [c.openai() for c in guarded]
                yield StreamToolCalls(tuple(call.guards.restore_call(c) for c in guarded))
            yield StreamEnd(outcome.finish_reason or "stop", outcome.usage or Usage())
            outcome.status = "ok"
        except GuardBlocked as exc:
            outcome.status = "blocked"
            yield StreamFailed(exc)
        except FinsandboxError as exc:
            outcome.status = _error_status(exc)
            outcome.error = exc.message
            yield StreamFailed(exc)
        finally:
            with anyio.CancelScope(shield=True):
                call.guards.close_stream()
                outcome.completion = call.guards.released_text
                await chunks.aclose()  # type: ignore[attr-defined]
                await self._rest.aclose()  # type: ignore[attr-defined]
                seq = await call.conclude(outcome)
        if outcome.status == "ok":
            yield StreamRecorded(seq)

    def _estimated_usage(self, pieces: int) -> Usage:
        """For a backend that reports no usage: a prompt estimate and one token per delta."""
        return Usage(sum(len(m["content"] or "") for m in self._request.messages) // 4, pieces)


def _models(secret: str | None) -> tuple[str, list[tuple[str, str, float]]]:
    with session_scope() as session:
        key = authenticate(session, secret)
        endpoints = list_endpoints(session, key.workspace_id)
        return key.workspace.slug, [(e.name, e.backend, e.created_at.timestamp()) for e in endpoints]


async def models(secret: str | None) -> tuple[str, list[tuple[str, str, float]]]:
    return await anyio.to_thread.run_sync(_models, secret)
