"""Scorecards and reviews: a trial's scorecard, the review queue, a review's findings, actions and thread.

A supervisor reaches a finding in two clicks: open a case of a trial, then "Add finding" on it;
the finding links that case result and its ledger entries, and opens the trial's review if needed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from finsandbox.errors import FinsandboxError, InvalidRequest, NotFound, PermissionDenied
from finsandbox.reports import charts
from finsandbox.store.models import Review, Scorecard, Trial, Workspace
from finsandbox.supervision.reviews import (
    DECISIONS,
    SEVERITIES,
    add_action,
    add_finding,
    blockers,
    decide,
    get_review,
    list_reviews,
    open_review,
    resolve,
    respond,
)
from finsandbox.supervision.scorecards import build_scorecard, compare, list_scorecards
from finsandbox.web.base import Editor, Page, Viewer
from finsandbox.web.trials import case_context, case_result_for, trial_for
from finsandbox.web.workspaces import workspace_for

router = APIRouter()


def workspace_cards(page: Page, workspace_id: str) -> list[Scorecard]:
    """The latest scorecard of each completed trial of a use case, oldest trial first (its history)."""
    cards = page.session.scalars(
        select(Scorecard)
        .join(Trial, Trial.id == Scorecard.trial_id)
        .where(Scorecard.workspace_id == workspace_id)
        .order_by(Trial.created_at, Scorecard.version)
    )
    latest: dict[str, Scorecard] = {}
    for card in cards:
        latest[card.trial_id] = card  # later versions replace earlier ones, trial order kept
    return list(latest.values())


@router.get("/trials/{trial_id}/scorecard", include_in_schema=False)
def scorecard_page(page: Viewer, trial_id: str, version: int = 0) -> Response:
    """The trial's scorecard as built when the trial finished: principles with their failing and worst
    cases, its versions, the use case's trend and the change since the previous trial. Reading only:
    viewing never builds a scorecard or writes to the ledger."""
    trial = trial_for(page, trial_id, "scorecard.view")
    versions = list_scorecards(page.session, trial.id)
    card = next((c for c in versions if c.version == version), None) if version else None
    card = card or (versions[-1] if versions else None)
    can_build = trial.status == "completed" and page.may("scorecard.build", trial.workspace)
    if card is None:
        return page.render(
            "scorecard.html",
            {"trial": trial, "ws": trial.workspace, "card": None, "can_build": can_build},
        )
    principles = [(pid, p) for pid, p in card.data.get("principles", {}).items() if p.get("judged")]
    chart = charts.data_uri(
        charts.rate_bars(
            [p["name"] for _, p in principles],
            [p.get("pass_rate") for _, p in principles],
            [p.get("ci") for _, p in principles],
            "Pass rate by principle (bars: 95% interval)",
        )
    )
    history = workspace_cards(page, trial.workspace_id)
    trend = None
    if len(history) >= 2:
        names = {pid: p["name"] for pid, p in principles}
        series: dict[str, list[float | None]] = {
            "overall": [c.data["overall"].get("pass_rate") for c in history]
        }
        for pid, name in names.items():
            series[name] = [(c.data["principles"].get(pid) or {}).get("pass_rate") for c in history]
        trend = charts.data_uri(
            charts.trend_chart(
                [c.trial.name for c in history], series, "Pass rate from one trial to the next"
            )
        )
    position = next((i for i, c in enumerate(history) if c.trial_id == trial.id), None)
    previous = history[position - 1] if position else None
    comparison = compare(previous, card) if previous is not None else None
    reviews = list(page.session.scalars(select(Review).where(Review.scorecard_id == card.id)))
    stale = versions[-1].score_version != trial.score_version if versions else False
    return page.render(
        "scorecard.html",
        {
            "chart": chart,
            "trend": trend,
            "trial": trial,
            "ws": trial.workspace,
            "card": card,
            "data": card.data,
            "versions": versions,
            "history": history,
            "previous": previous,
            "comparison": comparison,
            "reviews": reviews,
            "stale": stale,
            "can_build": can_build,
            "can_open": page.may("review.open", trial.workspace),
        },
    )


@router.post("/trials/{trial_id}/scorecard", include_in_schema=False)
def build_scorecard_page(page: Editor, trial_id: str) -> Response:
    """Build the scorecard now (a trial finished before scorecards were built at completion, or the
    framework changed): a new version only when something changed."""
    trial = trial_for(page, trial_id, "scorecard.build")
    if trial.status != "completed":
        raise InvalidRequest(
            f"trial {trial.name!r} is {trial.status}; its scorecard exists once it completes"
        )
    build_scorecard(page.session, trial.id, actor=page.actor, user=page.user)
    return RedirectResponse(f"/trials/{trial.id}/scorecard", status_code=303)


@router.post("/trials/{trial_id}/review", include_in_schema=False)
def open_review_page(page: Editor, trial_id: str, title: Annotated[str, Form()] = "") -> Response:
    trial = trial_for(page, trial_id, "review.open")
    card, _ = build_scorecard(page.session, trial.id, actor=page.actor, user=page.user)
    review = open_review(page.session, page.user, card.id, title=title or None)
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)


def _review_for_trial(page: Page, trial: Trial) -> Review:
    """The open review of the trial's current scorecard, opened now when there is none."""
    card, _ = build_scorecard(page.session, trial.id, actor=page.actor, user=page.user)
    review = page.session.scalars(
        select(Review)
        .join(Scorecard, Scorecard.id == Review.scorecard_id)
        .where(Scorecard.trial_id == trial.id, Review.status == "open")
        .order_by(Review.created_at.desc())
    ).first()
    return review or open_review(page.session, page.user, card.id)


@router.post("/trials/{trial_id}/cases/{result_id}/finding", include_in_schema=False)
def finding_from_case(
    page: Editor,
    trial_id: str,
    result_id: str,
    severity: Annotated[str, Form()] = "",
    principle: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    """Add a finding linked to this case result and its ledger entries, to the trial's open review."""
    trial = trial_for(page, trial_id)
    page.authorize("review.add_finding", trial.workspace)
    row = case_result_for(page, trial, result_id)
    seqs = [int(s) for s in row.evidence.get("ledger_seqs") or []]
    try:
        with page.session.begin_nested():
            review = _review_for_trial(page, trial)
            add_finding(
                page.session,
                page.user,
                review.id,
                severity=severity,
                principle=principle,
                text=text,
                case_result_ids=[row.id],
                ledger_seqs=seqs,
            )
    except FinsandboxError as exc:
        context = case_context(page, trial, row)
        context.update(
            form={"severity": severity, "principle": principle, "text": text}, errors={"finding": exc.message}
        )
        return page.render("case.html", context, 400)
    return RedirectResponse(f"/reviews/{review.id}#findings", status_code=303)


@router.get("/reviews", include_in_schema=False)
def review_queue(page: Viewer, workspace: str = "", status: str = "") -> Response:
    """Supervisors: every review, open first. Participants: the reviews of their own workspaces."""
    ws: Workspace | None = workspace_for(page, workspace, "review.view") if workspace else None
    reviews = list_reviews(page.session, user=page.user, workspace_id=ws.id if ws else None)
    if status:
        reviews = [r for r in reviews if r.status == status]
    reviews.sort(key=lambda r: (r.status != "open", -r.created_at.timestamp()))
    rows = [
        {
            "review": r,
            "open_findings": sum(1 for f in r.findings if f.status == "open"),
            "open_actions": sum(1 for a in r.actions if a.status == "open"),
        }
        for r in reviews
    ]
    return page.render("reviews.html", {"rows": rows, "ws": ws, "status": status, "decisions": DECISIONS})


def review_for(page: Page, review_id: str) -> Review:
    try:
        return get_review(page.session, review_id, user=page.user)
    except NotFound:
        raise NotFound(f"no review {review_id!r}") from None


def _review_page(
    page: Page,
    review: Review,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ws = review.workspace
    return page.render(
        "review.html",
        {
            "review": review,
            "ws": ws,
            "card": review.scorecard,
            "principles": list(review.scorecard.data.get("principles", {}).items()),
            "severities": SEVERITIES,
            "decisions": DECISIONS,
            "blockers": blockers(review),
            "form": form or {},
            "errors": errors or {},
            "is_supervisor": page.may("review.decide", ws),
            "can_respond": page.may("review.respond", ws),
        },
        status,
    )


@router.get("/reviews/{review_id}", include_in_schema=False)
def review_page(page: Viewer, review_id: str) -> Response:
    return _review_page(page, review_for(page, review_id))


def _act(page: Page, review_id: str, form: dict[str, Any], do: Any, anchor: str) -> Response:
    review = review_for(page, review_id)
    try:
        with page.session.begin_nested():
            do(review)
    except (NotFound, PermissionDenied):
        raise  # not a form problem: the error page says what happened
    except FinsandboxError as exc:
        page.session.refresh(review)
        return _review_page(page, review, form, {form["_form"]: exc.message}, 400)
    return RedirectResponse(f"/reviews/{review.id}#{anchor}", status_code=303)


def _ref(value: str) -> str | None:
    return value or None


@router.post("/reviews/{review_id}/findings", include_in_schema=False)
def add_finding_page(
    page: Editor,
    review_id: str,
    severity: Annotated[str, Form()] = "",
    principle: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    form = {"_form": "finding", "severity": severity, "principle": principle, "finding_text": text}
    return _act(
        page,
        review_id,
        form,
        lambda r: add_finding(
            page.session, page.user, r.id, severity=severity, principle=principle, text=text
        ),
        "findings",
    )


@router.post("/reviews/{review_id}/actions", include_in_schema=False)
def add_action_page(
    page: Editor,
    review_id: str,
    text: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
    finding: Annotated[str, Form()] = "",
) -> Response:
    """Require an action; a missing text and a missing, malformed or past due date are shown together."""
    form = {"_form": "action", "action_text": text, "due_on": due_on, "finding": finding}
    review = review_for(page, review_id)
    page.authorize("review.add_action", review.workspace)
    errors: dict[str, str] = {}
    due: date | None = None
    if not text.strip():
        errors["action_text"] = "Say what must be done."
    try:
        due = date.fromisoformat(due_on.strip())
    except ValueError:
        errors["due_on"] = "Give the due date as YYYY-MM-DD."
    else:
        if due < datetime.now(UTC).date():
            errors["due_on"] = f"The due date {due.isoformat()} is in the past."
    if errors:
        errors["action"] = "The action was not added; see the problems below."
        return _review_page(page, review, form, errors, 400)
    assert due is not None
    return _act(
        page,
        review_id,
        form,
        lambda r: add_action(page.session, page.user, r.id, text=text, due_on=due, finding=_ref(finding)),
        "actions",
    )


@router.post("/reviews/{review_id}/respond", include_in_schema=False)
def respond_page(
    page: Editor,
    review_id: str,
    text: Annotated[str, Form()] = "",
    finding: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
) -> Response:
    form = {"_form": f"respond-{finding or action}", "respond_text": text}
    return _act(
        page,
        review_id,
        form,
        lambda r: respond(
            page.session, page.user, r.id, text=text, finding=_ref(finding), action=_ref(action)
        ),
        "thread",
    )


@router.post("/reviews/{review_id}/resolve", include_in_schema=False)
def resolve_page(
    page: Editor,
    review_id: str,
    note: Annotated[str, Form()] = "",
    finding: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "",
) -> Response:
    form = {"_form": f"resolve-{finding or action}", "resolve_note": note}
    return _act(
        page,
        review_id,
        form,
        lambda r: resolve(
            page.session, page.user, r.id, note=note, finding=_ref(finding), action=_ref(action)
        ),
        "thread",
    )


@router.post("/reviews/{review_id}/decide", include_in_schema=False)
def decide_page(
    page: Editor,
    review_id: str,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Record a decision: nothing is preselected, and every problem with the form is shown at once."""
    review = review_for(page, review_id)
    page.authorize("review.decide", review.workspace)
    form = {"_form": "decide", "decision": decision, "decide_note": note, "override_reason": override_reason}
    errors: dict[str, str] = {}
    if decision not in DECISIONS:
        errors["decision"] = "Choose a decision."
    if decision == "accepted" and not note.strip():
        errors["note"] = "Say why the review is accepted; accepting needs a note."
    if confirm != "yes":
        errors["confirm"] = "Tick the box to confirm the decision."
    if errors:
        errors["decide"] = "The decision was not recorded; see the problems below."
        return _review_page(page, review, form, errors, 400)
    try:
        with page.session.begin_nested():
            decide(
                page.session,
                page.user,
                review.id,
                decision=decision,
                note=note,
                override_reason=override_reason or None,
            )
    except (NotFound, PermissionDenied):
        raise
    except FinsandboxError as exc:
        page.session.refresh(review)
        field = exc.param if exc.param in ("note", "decision") else "decide"
        return _review_page(page, review, form, {field: exc.message, "decide": exc.message}, 400)
    return RedirectResponse(f"/reviews/{review.id}#decision", status_code=303)
