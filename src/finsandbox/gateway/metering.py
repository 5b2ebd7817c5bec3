"""Metering: one usage row and one ledger entry per gateway call, written together.

Both are written by the process's group-commit writer (see writer.py) with prebuilt Core
statements; the ORM's unit of work cost more than the writes themselves on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from finsandbox.gateway.quotas import Quotas, Reservation
from finsandbox.gateway.writer import Job
from finsandbox.ledger.chain import Head, append_after
from finsandbox.store.models import UsageRecord, new_id, utcnow
from finsandbox.store.prepared import Prepared


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
    # The call came from its trial's own key (the run's key); only such calls can be replays.
    trial_key: bool = False


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


_USAGE = Prepared(UsageRecord.__table__.insert())  # run on the driver for every call (store/prepared.py)
_usage = UsageRecord.__table__
_CALLS_IN_CASE = Prepared(
    select(_usage.c.key_id, _usage.c.ledger_seq, _usage.c.replay_of)
    .where(
        _usage.c.trial_id == bindparam("t"),
        _usage.c.case_id == bindparam("c"),
        _usage.c.call_no.is_not(None),
    )
    .order_by(_usage.c.ledger_seq)
)
_OWN_CALLS = Prepared(
    select(func.count()).where(
        _usage.c.trial_id == bindparam("t"),
        _usage.c.case_id == bindparam("c"),
        _usage.c.key_id == bindparam("k"),
        _usage.c.call_no.is_not(None),
    )
)


def replay_of(conn: Connection, call: CallRecord) -> tuple[int | None, int | None]:
    """(this call's number within its case, the ledger seq of the call it repeats or None).

    A trial run has a key of its own, and a resumed run a new one; a case's calls are made one
    after another. So a run's n-th call for a case repeats an earlier run's n-th call for the same
    case: the call that was in flight when that run crashed (its case was never stored, so the
    resumed run makes it again). It is recorded, but metered once. Calls of other keys, or a case
    calling the model again within one run, are never replays.
    """
    if not (call.trial_key and call.trial_id and call.case_id):
        return None, None
    params = {"t": call.trial_id, "c": call.case_id, "k": call.key_id}
    number = int(_OWN_CALLS.run(conn, params).scalar()) + 1
    earlier: dict[str, list[int]] = {}
    for key_id, seq, replayed in _CALLS_IN_CASE.run(conn, params):
        if key_id != call.key_id:
            earlier.setdefault(key_id, []).append(replayed or seq)
    originals = [seqs[number - 1] for seqs in earlier.values() if len(seqs) >= number]
    return number, (min(originals) if originals else None)


class RecordCall(Job[int]):
    """A call's quota tokens, ledger entry and usage row, as one share of a group commit."""

    needs_ledger = True
    pipelined = True  # counters, the chain's lock, the entry and the usage row are all sent

    def __init__(self, call: CallRecord, quotas: Quotas) -> None:
        self.call = call
        self.quotas = quotas
        self.payload = ledger_payload(call)
        self.seq = 0
        self.call_no: int | None = None
        self.replay_of: int | None = None

    def rows(self, conn: Connection) -> None:
        call = self.call
        self.call_no, self.replay_of = replay_of(conn, call)
        tokens = call.prompt_tokens + call.completion_tokens
        if self.replay_of is not None:
            # The ledger keeps what the upstream reported; the meter and the quota count it once.
            self.payload["replay_of"] = self.replay_of
            self.payload["metered"] = False
            tokens = 0
        self.quotas.record(conn, call.key_id, tokens, call.reservation)

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
        _USAGE.send(
            conn,
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
                "prompt_tokens": 0 if self.replay_of is not None else call.prompt_tokens,
                "completion_tokens": 0 if self.replay_of is not None else call.completion_tokens,
                "latency_ms": call.latency_ms,
                "ledger_seq": head.seq,
                "call_no": self.call_no,
                "replay_of": self.replay_of,
            },
        )
        return head

    def result(self) -> int:
        return self.seq
