"""Metering: one usage row and one ledger entry per gateway call, written together.

Both are written by the process's group-commit writer (see writer.py) with prebuilt Core
statements; the ORM's unit of work cost more than the writes themselves on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from finsandbox.gateway.quotas import Quotas, Reservation
from finsandbox.gateway.writer import Job
from finsandbox.ledger.chain import Head, append_after
from finsandbox.store.models import UsageRecord, new_id, utcnow


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
    # `gateway.chat` for a caller's call; `gateway.check` for a call a guard made (the checker).
    kind: str = "gateway.chat"
    reservation: Reservation = field(default_factory=Reservation)


def ledger_payload(call: CallRecord) -> dict[str, Any]:
    """The ledger entry's payload for one call (the redacted prompt and completion ride in `extra`)."""
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
    return payload


_USAGE = UsageRecord.__table__.insert()


class RecordCall(Job[int]):
    """A call's quota tokens, ledger entry and usage row, as one share of a group commit."""

    needs_ledger = True

    def __init__(self, call: CallRecord, quotas: Quotas) -> None:
        self.call = call
        self.quotas = quotas
        self.payload = ledger_payload(call)
        self.seq = 0

    def rows(self, conn: Connection) -> None:
        call = self.call
        self.quotas.record(conn, call.key_id, call.prompt_tokens + call.completion_tokens, call.reservation)

    def ledger(self, conn: Connection, head: Head) -> Head:
        call = self.call
        head = append_after(
            conn,
            head,
            actor=f"key:{call.key_prefix}",
            kind=call.kind,
            workspace_id=call.workspace_id,
            payload=self.payload,
        )
        self.seq = head.seq
        conn.execute(
            _USAGE,
            {
                "id": new_id(),
                "created_at": utcnow(),
                "workspace_id": call.workspace_id,
                "key_id": call.key_id,
                "endpoint": call.endpoint,
                "backend": call.backend,
                "trial_id": call.trial_id,
                "case_id": call.case_id,
                "stream": call.stream,
                "status": call.status,
                "prompt_tokens": call.prompt_tokens,
                "completion_tokens": call.completion_tokens,
                "latency_ms": call.latency_ms,
                "ledger_seq": head.seq,
            },
        )
        return head

    def result(self) -> int:
        return self.seq
