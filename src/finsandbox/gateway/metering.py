"""Metering: one usage row and one ledger entry per gateway call, written together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.store.models import UsageRecord


@dataclass
class CallRecord:
    """What the ledger and the meter learn about one call."""

    workspace_id: str
    key_id: str
    key_prefix: str
    endpoint: str
    backend: str
    model: str
    trial_id: str | None
    stream: bool
    status: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    prompt_digest: str = ""
    completion_digest: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    case_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def record_call(session: Session, call: CallRecord) -> UsageRecord:
    """Append the ledger entry and the usage row in the caller's (write) transaction."""
    payload: dict[str, Any] = {
        "endpoint": call.endpoint,
        "backend": call.backend,
        "model": call.model,
        "key": call.key_prefix,
        "trial": call.trial_id,
        "case": call.case_id,
        "stream": call.stream,
        "status": call.status,
        "usage": {"prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens},
        "latency_ms": round(call.latency_ms, 2),
        "prompt_digest": call.prompt_digest,
        "completion_digest": call.completion_digest,
        "finish_reason": call.finish_reason,
    }
    if call.error:
        payload["error"] = call.error
    payload.update(call.extra)
    entry = ledger.append(
        session,
        actor=f"key:{call.key_prefix}",
        kind="gateway.chat",
        workspace_id=call.workspace_id,
        payload=payload,
    )
    usage = UsageRecord(
        workspace_id=call.workspace_id,
        key_id=call.key_id,
        endpoint=call.endpoint,
        backend=call.backend,
        trial_id=call.trial_id,
        case_id=call.case_id,
        stream=call.stream,
        status=call.status,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        latency_ms=call.latency_ms,
        ledger_seq=entry.seq,
    )
    session.add(usage)
    return usage
