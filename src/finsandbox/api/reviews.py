"""Reviews: supervisors open, add findings and actions, resolve and decide; members respond."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, status

from finsandbox.api.deps import Reader, Writer
from finsandbox.api.schemas import (
    ActionIn,
    DecisionIn,
    FindingIn,
    ResolutionIn,
    ResponseIn,
    ReviewOpen,
    ReviewOut,
    ReviewSummary,
)
from finsandbox.programme import get_workspace
from finsandbox.supervision import reviews as rv

router = APIRouter(prefix="/reviews", tags=["reviews"])


def _out(caller: Reader | Writer, review_id: str) -> dict[str, Any]:
    caller.session.flush()
    return rv.review_as_dict(rv.get_review(caller.session, review_id, user=caller.user))


@router.get("", response_model=list[ReviewSummary], summary="Reviews you may see")
def list_reviews(caller: Reader, workspace: str | None = Query(default=None)) -> list[dict[str, Any]]:
    ws_id = get_workspace(caller.session, workspace).id if workspace else None
    return [
        {
            "id": r.id,
            "title": r.title,
            "status": r.status,
            "workspace": r.workspace.slug,
            "scorecard_id": r.scorecard_id,
            "findings": len(r.findings),
            "created_at": r.created_at,
        }
        for r in rv.list_reviews(caller.session, user=caller.user, workspace_id=ws_id)
    ]


@router.post("", response_model=ReviewOut, status_code=status.HTTP_201_CREATED, summary="Open a review")
def open_review(body: ReviewOpen, caller: Writer) -> dict[str, Any]:
    review = rv.open_review(caller.session, caller.user, body.scorecard_id, title=body.title)
    return _out(caller, review.id)


@router.get("/{review_id}", response_model=ReviewOut, summary="A review with its thread")
def read(review_id: str, caller: Reader) -> dict[str, Any]:
    return _out(caller, review_id)


@router.post("/{review_id}/findings", response_model=ReviewOut, summary="Add a finding (supervisors)")
def add_finding(review_id: str, body: FindingIn, caller: Writer) -> dict[str, Any]:
    rv.add_finding(caller.session, caller.user, review_id, **body.model_dump())
    return _out(caller, review_id)


@router.post("/{review_id}/actions", response_model=ReviewOut, summary="Require an action (supervisors)")
def add_action(review_id: str, body: ActionIn, caller: Writer) -> dict[str, Any]:
    rv.add_action(
        caller.session, caller.user, review_id, text=body.text, due_on=body.due_on, finding=body.finding
    )
    return _out(caller, review_id)


@router.post("/{review_id}/responses", response_model=ReviewOut, summary="Respond (workspace members)")
def respond(review_id: str, body: ResponseIn, caller: Writer) -> dict[str, Any]:
    rv.respond(
        caller.session, caller.user, review_id, text=body.text, finding=body.finding, action=body.action
    )
    return _out(caller, review_id)


@router.post("/{review_id}/resolutions", response_model=ReviewOut, summary="Mark resolved (supervisors)")
def resolve(review_id: str, body: ResolutionIn, caller: Writer) -> dict[str, Any]:
    rv.resolve(
        caller.session, caller.user, review_id, note=body.note, finding=body.finding, action=body.action
    )
    return _out(caller, review_id)


@router.post(
    "/{review_id}/decision",
    response_model=ReviewOut,
    summary="Decide (supervisors); accepting needs a note and no open high finding or required action",
)
def decide(review_id: str, body: DecisionIn, caller: Writer) -> dict[str, Any]:
    rv.decide(
        caller.session,
        caller.user,
        review_id,
        decision=body.decision,
        note=body.note,
        override_reason=body.override_reason,
    )
    return _out(caller, review_id)
