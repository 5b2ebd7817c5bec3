"""The use-case lifecycle as one state machine, from application to conclusion.

An application is proposed, assessed, then admitted (which creates its workspace) or declined; the
admitted use case experiments (its first trial), comes under review (a supervisor opens one) and is
concluded; the bank may withdraw at any point before a final state. The application and its workspace
always carry the same state word, and every change is a ledger entry in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.errors import Conflict, InvalidRequest
from finsandbox.store.models import Application, LedgerEntry, User, Workspace, utcnow

STATES = (
    "proposed",
    "under_assessment",
    "admitted",
    "declined",
    "experimenting",
    "under_review",
    "accepted",
    "suspended",
    "concluded",
    "withdrawn",
)
FINAL = frozenset({"declined", "concluded", "withdrawn"})
LABELS = {s: s.replace("_", " ") for s in STATES} | {"accepted": "accepted, ready to conclude"}
"""How each state reads to a person ("under assessment")."""

TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"under_assessment", "declined", "withdrawn"}),
    "under_assessment": frozenset({"admitted", "declined", "withdrawn"}),
    "admitted": frozenset({"experimenting", "under_review", "concluded", "withdrawn"}),
    "experimenting": frozenset({"under_review", "accepted", "suspended", "concluded", "withdrawn"}),
    "under_review": frozenset({"experimenting", "accepted", "suspended", "concluded", "withdrawn"}),
    "accepted": frozenset({"experimenting", "under_review", "suspended", "concluded", "withdrawn"}),
    "suspended": frozenset({"experimenting", "under_review", "accepted", "concluded", "withdrawn"}),
    "declined": frozenset(),
    "concluded": frozenset(),
    "withdrawn": frozenset(),
}
"""Every allowed move; anything else is refused with a Conflict naming both states."""

_VERB = {  # the ledger kind of each move made before the use case has a workspace
    "under_assessment": "application.assessment_started",
    "admitted": "application.admitted",
    "declined": "application.declined",
    "withdrawn": "application.withdrawn",
}


def label(state: str) -> str:
    return LABELS.get(state, state.replace("_", " "))


def check(current: str, wanted: str, what: str) -> None:
    """Raise Conflict unless the machine allows current -> wanted."""
    if wanted not in STATES:
        raise Conflict(f"unknown lifecycle state {wanted!r}; states are {', '.join(STATES)}")
    if wanted not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(TRANSITIONS.get(current, frozenset()))
        hint = (
            f"from there it can become {', '.join(label(s) for s in allowed)}" if allowed else "it is final"
        )
        raise Conflict(f"{what} is {label(current)} and cannot become {label(wanted)}; {hint}")


def application_of(session: Session, workspace: Workspace) -> Application | None:
    return session.scalars(select(Application).where(Application.workspace_id == workspace.id)).first()


def state_of(application: Application | None = None, workspace: Workspace | None = None) -> str:
    """The one state word of a use case: its workspace's once it has one."""
    if workspace is None and application is not None:
        workspace = application.workspace
    if workspace is not None:
        return workspace.status
    assert application is not None
    return application.status


def move(
    session: Session,
    *,
    to: str,
    actor: str,
    application: Application | None = None,
    workspace: Workspace | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    """Move a use case (its application, its workspace, or both) to `to`; returns the previous state.

    Before admission the move is an `application.*` entry; once the use case has a workspace it is a
    `workspace.state_changed` entry. Both sides change together so no list can disagree.
    """
    if application is not None and workspace is None:
        workspace = application.workspace
    if workspace is not None and application is None:
        application = application_of(session, workspace)
    current = state_of(application, workspace)
    if workspace is not None:
        what = f"workspace {workspace.slug}"
    else:
        assert application is not None
        what = f"application {application.title!r}"
    check(current, to, what)
    body: dict[str, Any] = {"from": current, "to": to, **(payload or {})}
    if application is not None:
        application.status = to
        application.updated_at = utcnow()
        body = {"application_id": application.id, **body}
    if workspace is not None:
        workspace.status = to
        body = {"workspace_id": workspace.id, **body}
    session.flush()
    if workspace is not None and to in FINAL:
        # Closing ends every credential of the use case at once: its keys are revoked in this
        # transaction, and every other check reads the workspace's state (access/closure.py).
        from finsandbox.access.closure import revoke_workspace_keys

        body["keys_revoked"] = revoke_workspace_keys(
            session, workspace, actor=actor, because=f"workspace {label(to)}"
        )
    ledger.append(
        session,
        actor=actor,
        kind="workspace.state_changed" if workspace is not None else _VERB[to],
        workspace_id=workspace.id if workspace is not None else None,
        payload=body,
    )
    return current


def next_states(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, frozenset()))


def mark_experimenting(session: Session, workspace: Workspace, *, actor: str) -> bool:
    """An admitted use case starts experimenting with its first trial; True when the state changed.

    The trial runner calls this as a trial starts; any other state is left as it is.
    """
    if workspace.status != "admitted":
        return False
    move(session, to="experimenting", actor=actor, workspace=workspace, payload={"because": "trial started"})
    return True


def mark_under_review(session: Session, workspace: Workspace, *, actor: str) -> bool:
    """A use case comes under review when a supervisor opens one; True when the state changed."""
    if workspace.status not in ("admitted", "experimenting", "accepted", "suspended"):
        return False
    move(session, to="under_review", actor=actor, workspace=workspace, payload={"because": "review opened"})
    return True


DECISION_STATES = {"accepted": "accepted", "changes_requested": "experimenting", "suspended": "suspended"}
"""Where a review's decision takes its use case: accepted (ready to conclude), back to experimenting
(the bank reworks it), or suspended."""


def mark_decided(
    session: Session, workspace: Workspace, decision: str, *, actor: str, review_id: str
) -> bool:
    """Move the use case after a supervisor decides one of its reviews; True when the state changed.

    A final use case (concluded, withdrawn) refuses with a Conflict before anything is written.
    """
    to = DECISION_STATES[decision]
    if workspace.status == to:
        return False
    move(
        session,
        to=to,
        actor=actor,
        workspace=workspace,
        payload={"because": f"review {decision.replace('_', ' ')}", "review_id": review_id},
    )
    return True


def change_state(session: Session, user: User, workspace: Workspace, to: str, *, note: str = "") -> str:
    """A person moves a use case: the bank's members withdraw it, supervisors move it on (conclude it,
    send it back to experimenting). Returns the previous state."""
    from finsandbox.access.authz import authorize

    authorize(user, "workspace.view", workspace)
    authorize(user, "workspace.withdraw" if to == "withdrawn" else "workspace.state", workspace)
    note = (note or "").strip()
    if to == "concluded" and not note:
        raise InvalidRequest("say how the use case concluded (the exit decision)", param="note")
    return move(
        session,
        to=to,
        actor=f"user:{user.email}",
        workspace=workspace,
        payload={"note_digest": ledger.sha256_hex(note)} if note else None,
    )


_MOVES = ("application.submitted", *_VERB.values(), "workspace.state_changed")
"""The ledger kinds that move a use case from one state to another."""


def history(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    """How a use case got to its state, oldest first: the ledger entries that moved it."""
    application = application_of(session, workspace)
    query = select(LedgerEntry).where(
        LedgerEntry.kind == "workspace.state_changed", LedgerEntry.workspace_id == workspace.id
    )
    entries = list(session.scalars(query))
    if application is not None:
        # Before admission the entries have no workspace; the application's random id finds them.
        query = select(LedgerEntry).where(
            LedgerEntry.kind.in_([k for k in _MOVES if k.startswith("application.")]),
            LedgerEntry.payload.contains(application.id),
        )
        entries += list(session.scalars(query))
    out = []
    for e in sorted({e.seq: e for e in entries}.values(), key=lambda e: e.seq):
        body = json.loads(e.payload)
        out.append(
            {
                "seq": e.seq,
                "at": e.ts,
                "actor": e.actor,
                "kind": e.kind,
                "from": body.get("from"),
                "to": body.get("to", "proposed" if e.kind == "application.submitted" else None),
            }
        )
    return out


def workspace_state(session: Session, workspace: Workspace) -> dict[str, Any]:
    """Where a use case stands: its state, where it may go next, and how it got here."""
    application = application_of(session, workspace)
    return {
        "workspace": workspace.slug,
        "state": workspace.status,
        "state_label": label(workspace.status),
        "next_states": next_states(workspace.status),
        "application_id": application.id if application else None,
        "history": history(session, workspace),
    }
