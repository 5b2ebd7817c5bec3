"""Reviews: a supervisor's assessment of one scorecard version, and the conversation around it.

Supervisors open a review, add findings (tied to the exact case results and ledger entries that
show them), require actions with due dates, mark them resolved and decide; members of the
workspace respond. Each step is a row and a `review.*` ledger entry written in one transaction,
and everything is checked before anything is written, so a refused step leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.store.models import (
    CaseResult,
    Finding,
    LedgerEntry,
    RequiredAction,
    Review,
    ReviewEvent,
    Scorecard,
    Trial,
    User,
)
from finsandbox.supervision.scorecards import get_scorecard

SEVERITIES = ("low", "medium", "high", "critical")
DECISIONS = ("accepted", "changes_requested", "suspended")
MAX_TEXT = 10_000


def _actor(user: User) -> str:
    return f"user:{user.email}"


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidRequest(f"{what} must not be empty", param="text")
    if len(value) > MAX_TEXT:
        raise InvalidRequest(f"{what} is longer than {MAX_TEXT} characters", param="text")
    return value


def _event(
    session: Session,
    review: Review,
    user: User,
    kind: str,
    payload: dict[str, Any],
    *,
    text: str = "",
    finding: Finding | None = None,
    action: RequiredAction | None = None,
) -> ReviewEvent:
    """Write the thread line and its ledger entry together."""
    entry = ledger.append(
        session,
        actor=_actor(user),
        kind=f"review.{kind}",
        workspace_id=review.workspace_id,
        payload={"review_id": review.id, **payload},
    )
    event = ReviewEvent(
        review_id=review.id,
        kind=kind,
        finding_id=finding.id if finding else None,
        action_id=action.id if action else None,
        author_id=user.id,
        text=text,
        ledger_seq=entry.seq,
        created_at=datetime.now(UTC),
    )
    session.add(event)
    session.flush()
    # Rows were added by foreign key, not through the collections: reload them on next access.
    session.expire(review, ["findings", "actions", "events"])
    return event


def open_review(session: Session, user: User, scorecard_id: str, *, title: str | None = None) -> Review:
    card = get_scorecard(session, scorecard_id, user=user)
    authorize(user, "review.open", card.workspace)
    review = Review(
        scorecard_id=card.id,
        workspace_id=card.workspace_id,
        opened_by=user.id,
        title=(title or "").strip() or f"Review of {card.trial.name} (scorecard v{card.version})",
        status="open",
        created_at=datetime.now(UTC),
    )
    session.add(review)
    session.flush()
    _event(
        session,
        review,
        user,
        "opened",
        {"scorecard_id": card.id, "trial_id": card.trial_id, "version": card.version, "title": review.title},
        text=review.title,
    )
    from finsandbox.programme.lifecycle import mark_under_review

    mark_under_review(session, card.workspace, actor=_actor(user))
    return review


def get_review(session: Session, review_id: str, *, user: User | None = None) -> Review:
    """A review by id (or a unique prefix of at least 6 characters), if the user may see it."""
    review = session.get(Review, review_id)
    if review is None and len(review_id) >= 6:
        matches = list(session.scalars(select(Review).where(Review.id.startswith(review_id)).limit(2)))
        review = matches[0] if len(matches) == 1 else None
    if review is None:
        raise NotFound(f"no review {review_id!r}")
    if user is not None:
        authorize(user, "review.view", review.workspace, subject=f"review {review_id!r}")
    return review


def list_reviews(
    session: Session, *, user: User | None = None, workspace_id: str | None = None
) -> list[Review]:
    from finsandbox.access.authz import can_see

    q = select(Review).order_by(Review.created_at.desc())
    if workspace_id:
        q = q.where(Review.workspace_id == workspace_id)
    reviews = list(session.scalars(q))
    if user is None:
        return reviews
    return [r for r in reviews if can_see(session, user, r.workspace)]


def _check_evidence(
    session: Session, review: Review, case_result_ids: Sequence[str], ledger_seqs: Sequence[int]
) -> tuple[list[str], list[int]]:
    """Every linked case result and ledger entry must exist and belong to the review's workspace."""
    problems: list[str] = []
    ids = list(dict.fromkeys(case_result_ids))
    found: dict[str, str] = {}
    if ids:
        rows = session.execute(
            select(CaseResult.id, Trial.workspace_id)
            .join(Trial, Trial.id == CaseResult.trial_id)
            .where(CaseResult.id.in_(ids))
        ).all()
        found = {row_id: ws for row_id, ws in rows}
    for cid in ids:
        if cid not in found:
            problems.append(f"case result {cid} does not exist")
        elif found[cid] != review.workspace_id:
            problems.append(f"case result {cid} belongs to another workspace")
    seqs = sorted(set(int(s) for s in ledger_seqs))
    entries: dict[int, str | None] = {}
    if seqs:
        entries = dict(
            session.execute(
                select(LedgerEntry.seq, LedgerEntry.workspace_id).where(LedgerEntry.seq.in_(seqs))
            ).all()
        )
    for seq in seqs:
        if seq not in entries:
            problems.append(f"ledger entry {seq} does not exist")
        elif entries[seq] != review.workspace_id:
            problems.append(f"ledger entry {seq} belongs to another workspace")
    if problems:
        raise InvalidRequest("the finding's evidence is refused: " + "; ".join(problems), param="evidence")
    return ids, seqs


def _next_number(session: Session, model: type[Finding] | type[RequiredAction], review: Review) -> int:
    return (session.scalar(select(func.max(model.number)).where(model.review_id == review.id)) or 0) + 1


def add_finding(
    session: Session,
    user: User,
    review_id: str,
    *,
    severity: str,
    principle: str,
    text: str,
    case_result_ids: Sequence[str] = (),
    ledger_seqs: Sequence[int] = (),
) -> Finding:
    review = get_review(session, review_id, user=user)
    authorize(user, "review.add_finding", review.workspace)
    if severity not in SEVERITIES:
        raise InvalidRequest(
            f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}", param="severity"
        )
    known = list(review.scorecard.data.get("principles", {}))
    if principle not in known:
        raise InvalidRequest(
            f"{principle!r} is not a principle of the scorecard's framework; use one of {', '.join(known)}",
            param="principle",
        )
    text = _text(text, "a finding's text")
    ids, seqs = _check_evidence(session, review, case_result_ids, ledger_seqs)
    finding = Finding(
        review_id=review.id,
        number=_next_number(session, Finding, review),
        severity=severity,
        principle=principle,
        text=text,
        case_result_ids=ids,
        ledger_seqs=seqs,
        status="open",
        created_by=user.id,
        created_at=datetime.now(UTC),
    )
    session.add(finding)
    session.flush()
    _event(
        session,
        review,
        user,
        "finding_added",
        {
            "finding_id": finding.id,
            "number": finding.number,
            "severity": severity,
            "principle": principle,
            "text_digest": ledger.sha256_hex(text),
            "case_result_ids": ids,
            "ledger_seqs": seqs,
        },
        text=text,
        finding=finding,
    )
    return finding


def _numbered(session: Session, model: Any, review: Review, ref: str | int, what: str) -> Any:
    """A finding or action of this review by its number (1, 2, ...) or its id."""
    ref = str(ref).strip().lstrip("#")
    q = select(model).where(model.review_id == review.id)
    q = q.where(model.number == int(ref)) if ref.isdigit() else q.where(model.id == ref)
    found = session.scalars(q).first()
    if found is None:
        raise NotFound(f"review {review.id} has no {what} {ref}")
    return found


def _finding(session: Session, review: Review, ref: str | int) -> Finding:
    return _numbered(session, Finding, review, ref, "finding")  # type: ignore[no-any-return]


def _action(session: Session, review: Review, ref: str | int) -> RequiredAction:
    return _numbered(session, RequiredAction, review, ref, "required action")  # type: ignore[no-any-return]


def add_action(
    session: Session,
    user: User,
    review_id: str,
    *,
    text: str,
    due_on: date,
    finding: str | int | None = None,
) -> RequiredAction:
    review = get_review(session, review_id, user=user)
    authorize(user, "review.add_action", review.workspace)
    text = _text(text, "a required action's text")
    if not isinstance(due_on, date):
        raise InvalidRequest("the due date must be a date (YYYY-MM-DD)", param="due_on")
    if due_on < datetime.now(UTC).date():
        raise InvalidRequest(f"the due date {due_on.isoformat()} is in the past", param="due_on")
    linked = _finding(session, review, finding) if finding is not None else None
    action = RequiredAction(
        review_id=review.id,
        number=_next_number(session, RequiredAction, review),
        finding_id=linked.id if linked else None,
        text=text,
        due_on=due_on,
        status="open",
        created_by=user.id,
        created_at=datetime.now(UTC),
    )
    session.add(action)
    session.flush()
    _event(
        session,
        review,
        user,
        "action_added",
        {
            "action_id": action.id,
            "number": action.number,
            "finding_id": action.finding_id,
            "due_on": due_on.isoformat(),
            "text_digest": ledger.sha256_hex(text),
        },
        text=text,
        action=action,
    )
    return action


def respond(
    session: Session,
    user: User,
    review_id: str,
    *,
    text: str,
    finding: str | int | None = None,
    action: str | int | None = None,
) -> ReviewEvent:
    """A participant's answer to one finding or one required action."""
    review = get_review(session, review_id, user=user)
    authorize(user, "review.respond", review.workspace)
    if (finding is None) == (action is None):
        raise InvalidRequest("respond to exactly one finding or one required action")
    target_f = _finding(session, review, finding) if finding is not None else None
    target_a = _action(session, review, action) if action is not None else None
    text = _text(text, "a response")
    return _event(
        session,
        review,
        user,
        "responded",
        {
            "finding_id": target_f.id if target_f else None,
            "action_id": target_a.id if target_a else None,
            "text_digest": ledger.sha256_hex(text),
        },
        text=text,
        finding=target_f,
        action=target_a,
    )


def resolve(
    session: Session,
    user: User,
    review_id: str,
    *,
    note: str,
    finding: str | int | None = None,
    action: str | int | None = None,
) -> ReviewEvent:
    """A supervisor marks a finding or a required action resolved, saying how."""
    review = get_review(session, review_id, user=user)
    authorize(user, "review.resolve", review.workspace)
    if (finding is None) == (action is None):
        raise InvalidRequest("resolve exactly one finding or one required action")
    target_f = _finding(session, review, finding) if finding is not None else None
    target_a = _action(session, review, action) if action is not None else None
    target = target_f or target_a
    assert target is not None
    if target.status == "resolved":
        raise Conflict(f"{'finding' if target_f else 'required action'} {target.number} is already resolved")
    note = _text(note, "a resolution note")
    target.status = "resolved"
    session.flush()
    return _event(
        session,
        review,
        user,
        "resolved",
        {
            "finding_id": target_f.id if target_f else None,
            "action_id": target_a.id if target_a else None,
            "text_digest": ledger.sha256_hex(note),
        },
        text=note,
        finding=target_f,
        action=target_a,
    )


BLOCKING = ("high", "critical")
"""Severities that stop a review being accepted while their finding is open."""


def blockers(review: Review) -> dict[str, list[int]]:
    """What stands in the way of accepting: open findings of high severity or above, open actions."""
    return {
        "findings": [f.number for f in review.findings if f.status == "open" and f.severity in BLOCKING],
        "actions": [a.number for a in review.actions if a.status == "open"],
    }


def _blocker_text(found: dict[str, list[int]]) -> str:
    parts = []
    if found["findings"]:
        numbers = ", ".join(map(str, found["findings"]))
        parts.append(f"findings of high or critical severity are open ({numbers})")
    if found["actions"]:
        parts.append("required actions are open (" + ", ".join(f"A{n}" for n in found["actions"]) + ")")
    return " and ".join(parts)


def decide(
    session: Session,
    user: User,
    review_id: str,
    *,
    decision: str,
    note: str = "",
    override_reason: str | None = None,
) -> Review:
    """Record the supervisor's decision and move the use case accordingly.

    Accepting needs a note and is refused while a finding of high severity or above, or any required
    action, is open; a supervisor may accept anyway only by giving an override reason, which waives
    those findings and actions and is recorded in the ledger. A later decision supersedes an earlier
    one, and both stay in the thread.
    """
    review = get_review(session, review_id, user=user)
    authorize(user, "review.decide", review.workspace)
    if decision not in DECISIONS:
        raise InvalidRequest(
            f"choose a decision: {', '.join(d.replace('_', ' ') for d in DECISIONS)}"
            + (f" ({decision!r} is not one)" if decision else ""),
            param="decision",
        )
    note = (note or "").strip()
    override = (override_reason or "").strip()
    if len(note) > MAX_TEXT or len(override) > MAX_TEXT:
        raise InvalidRequest(f"a decision note is longer than {MAX_TEXT} characters", param="note")
    if decision == "accepted" and not note:
        raise InvalidRequest("say why the review is accepted: accepting needs a note", param="note")
    waived: dict[str, list[int]] = {"findings": [], "actions": []}
    if decision == "accepted":
        found = blockers(review)
        if found["findings"] or found["actions"]:
            if not override:
                raise Conflict(
                    f"the review cannot be accepted while {_blocker_text(found)}; resolve them, request "
                    "changes, or accept with an override reason",
                    param="override_reason",
                )
            waived = found
    elif override:
        raise InvalidRequest("an override reason only applies to accepting", param="override_reason")
    from finsandbox.programme.lifecycle import mark_decided

    # The use case moves first: a final use case refuses before anything is written.
    mark_decided(session, review.workspace, decision, actor=_actor(user), review_id=review.id)
    for f in review.findings:
        if f.number in waived["findings"]:
            f.status = "waived"
    for a in review.actions:
        if a.number in waived["actions"]:
            a.status = "waived"
    review.status = decision
    review.decision_note = note or None
    review.decided_by = user.id
    review.decided_at = datetime.now(UTC)
    session.flush()
    payload: dict[str, Any] = {"decision": decision, "text_digest": ledger.sha256_hex(note)}
    text = f"{decision.replace('_', ' ')}: {note}" if note else decision.replace("_", " ")
    if waived["findings"] or waived["actions"]:
        payload["override"] = {
            "reason_digest": ledger.sha256_hex(override),
            "waived_findings": waived["findings"],
            "waived_actions": waived["actions"],
        }
        text += f" (override: {override}; waived {_blocker_text(waived).replace(' are open', '')})"
    _event(session, review, user, "decided", payload, text=text)
    return review


def review_as_dict(review: Review) -> dict[str, Any]:
    """A review with its findings, actions and thread, as plain data (API, reports, bundles)."""
    card: Scorecard = review.scorecard
    return {
        "id": review.id,
        "title": review.title,
        "status": review.status,
        "workspace": review.workspace.slug,
        "scorecard": {"id": card.id, "trial_id": card.trial_id, "version": card.version},
        "opened_by": review.opener.email,
        "created_at": review.created_at.isoformat(),
        "decision_note": review.decision_note,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "findings": [
            {
                "id": f.id,
                "number": f.number,
                "severity": f.severity,
                "principle": f.principle,
                "text": f.text,
                "status": f.status,
                "case_result_ids": list(f.case_result_ids),
                "ledger_seqs": list(f.ledger_seqs),
                "created_by": f.author.email,
                "created_at": f.created_at.isoformat(),
            }
            for f in review.findings
        ],
        "actions": [
            {
                "id": a.id,
                "number": a.number,
                "finding": next((f.number for f in review.findings if f.id == a.finding_id), None),
                "text": a.text,
                "due_on": a.due_on.isoformat(),
                "status": a.status,
                "created_by": a.author.email,
                "created_at": a.created_at.isoformat(),
            }
            for a in review.actions
        ],
        "thread": [
            {
                "kind": e.kind,
                "author": e.author.email,
                "author_role": e.author.role,
                "finding": next((f.number for f in review.findings if f.id == e.finding_id), None),
                "action": next((a.number for a in review.actions if a.id == e.action_id), None),
                "text": e.text,
                "at": e.created_at.isoformat(),
                "ledger_seq": e.ledger_seq,
            }
            for e in review.events
        ],
    }
