"""Applications: a bank applies to an open cohort; supervisors score it on the rubric, then admit it
(which opens its workspace) or decline it with reasons; the bank follows its state and may withdraw.

Every decision is made by the services in programme/applications.py, which authorize the user; a form
that the service refuses is shown again with each message beside its field and what was typed kept.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from finsandbox.access.roles import THEMES
from finsandbox.errors import FinsandboxError, NotFound, PermissionDenied
from finsandbox.programme import lifecycle
from finsandbox.programme.applications import (
    APPROACH_LABELS,
    FIELDS,
    RISK_LEVELS,
    admit,
    assess,
    assessment_summary,
    decline,
    get_application,
    list_applications,
    submit_application,
    withdraw,
)
from finsandbox.programme.cohorts import list_cohorts
from finsandbox.programme.rubric import load_rubric
from finsandbox.store.models import Application, Institution
from finsandbox.web.base import Editor, Page, Viewer

router = APIRouter()


def _errors(exc: FinsandboxError, default: str = "form") -> dict[str, str]:
    fields = (exc.extra or {}).get("fields")
    if isinstance(fields, dict) and fields:
        return {str(k): str(v) for k, v in fields.items()}
    return {exc.param or default: exc.message}


def application_for(page: Page, application_id: str) -> Application:
    """The application if the user may see it; participants of other banks are told it does not exist."""
    try:
        return get_application(page.session, application_id, user=page.user)
    except NotFound:
        raise NotFound(f"no application {application_id!r}") from None


def _apply_context(page: Page) -> dict[str, Any]:
    partners = list(
        page.session.scalars(
            select(Institution).where(Institution.kind == "tech_partner").order_by(Institution.name)
        )
    )
    return {
        "cohorts": list_cohorts(page.session, user=page.user, status="open"),
        "partners": partners,
        "themes": THEMES,
        "approaches": APPROACH_LABELS,
        "risk_levels": RISK_LEVELS,
    }


@router.get("/applications", include_in_schema=False)
def applications_page(page: Viewer, cohort: str = "", state: str = "") -> Response:
    """Participants: their bank's applications. Supervisors and operators: all, filtered."""
    page.authorize("cohort.view")
    rows = list_applications(page.session, user=page.user, cohort=cohort or None, status=state or None)
    return page.render(
        "applications.html",
        {
            "rows": rows,
            "cohorts": list_cohorts(page.session, user=page.user),
            "states": lifecycle.STATES,
            "cohort": cohort,
            "state": state,
            "state_of": lifecycle.state_of,
            "can_apply": page.user.role == "participant" and page.user.institution.kind == "bank",
        },
    )


@router.get("/applications/new", include_in_schema=False)
def apply_form(page: Viewer) -> Response:
    page.authorize("application.submit")
    return page.render("apply.html", {**_apply_context(page), "form": {}, "errors": {}})


def _emails(text: str) -> list[str]:
    return [e for e in re.split(r"[\s,;]+", text or "") if e]


@router.post("/applications", include_in_schema=False)
async def submit_page(page: Editor, request: Request) -> Response:
    page.authorize("application.submit")
    data = await request.form()
    form = {k: str(data.get(k) or "") for k in (*FIELDS, "cohort", "tech_partner", "members")}
    if not form["cohort"]:
        errors = {"cohort": "choose the cohort you apply to"}
        return page.render("apply.html", {**_apply_context(page), "form": form, "errors": errors}, 400)
    try:
        with page.session.begin_nested():
            application = submit_application(
                page.session,
                page.user,
                cohort=form["cohort"],
                tech_partner=form["tech_partner"] or None,
                members=_emails(form["members"]),
                **{k: form[k] for k in FIELDS},
            )
    except PermissionDenied:
        raise
    except FinsandboxError as exc:
        errors = _errors(exc, "form")
        if isinstance(exc, NotFound):
            errors = {"cohort": exc.message}
        return page.render("apply.html", {**_apply_context(page), "form": form, "errors": errors}, 400)
    return RedirectResponse(f"/applications/{application.id}", status_code=303)


def _application_page(
    page: Page,
    application: Application,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    can_assess = page.may("application.assess", application)
    summary = None
    mine: dict[str, Any] = {}
    rubric = None
    if page.may("assessment.view", application):
        loaded = load_rubric()
        rubric = loaded.rubric
        summary = assessment_summary(page.session, page.user, application.id, rubric=loaded)
        for a in application.assessments:
            if a.assessor_id == page.user.id:
                mine = {"scores": {k: str(v) for k, v in a.scores.items()}, "comment": a.comment}
    state = lifecycle.state_of(application)
    return page.render(
        "application.html",
        {
            "app": application,
            "state": state,
            "state_label": lifecycle.label(state),
            "approach_label": APPROACH_LABELS.get(application.approach, application.approach),
            "rubric": rubric,
            "summary": summary,
            "mine": mine,
            "form": form or {},
            "errors": errors or {},
            "can_assess": can_assess and application.status in ("proposed", "under_assessment"),
            "can_decide": page.may("application.decide", application)
            and application.status in ("proposed", "under_assessment"),
            "can_withdraw": page.may("application.withdraw", application)
            and "withdrawn" in lifecycle.next_states(state),
        },
        status,
    )


@router.get("/applications/{application_id}", include_in_schema=False)
def application_page(page: Viewer, application_id: str) -> Response:
    return _application_page(page, application_for(page, application_id))


def _act(page: Page, application_id: str, form: dict[str, Any], do: Any, target: Any = None) -> Response:
    application = application_for(page, application_id)
    try:
        with page.session.begin_nested():
            result = do(application)
    except (NotFound, PermissionDenied):
        raise
    except FinsandboxError as exc:
        page.session.refresh(application)
        errors = {exc.param or form["_form"]: exc.message}
        return _application_page(page, application, form, errors, 400)
    url = target(result) if target else f"/applications/{application.id}"
    return RedirectResponse(url, status_code=303)


@router.post("/applications/{application_id}/assess", include_in_schema=False)
async def assess_page(page: Editor, request: Request, application_id: str) -> Response:
    data = await request.form()
    rubric = load_rubric()
    scores = {c.id: str(data.get(f"score_{c.id}") or "") for c in rubric.rubric.criteria}
    comment = str(data.get("comment") or "")
    form = {"_form": "assess", "scores": scores, "comment": comment}
    return _act(
        page,
        application_id,
        form,
        lambda a: assess(page.session, page.user, a.id, scores=scores, comment=comment, rubric=rubric),
    )


@router.post("/applications/{application_id}/admit", include_in_schema=False)
def admit_page(page: Editor, application_id: str, force_reason: Annotated[str, Form()] = "") -> Response:
    form = {"_form": "admit", "force_reason": force_reason}
    return _act(
        page,
        application_id,
        form,
        lambda a: admit(page.session, page.user, a.id, force_reason=force_reason or None),
    )


@router.post("/applications/{application_id}/decline", include_in_schema=False)
def decline_page(page: Editor, application_id: str, reasons: Annotated[str, Form()] = "") -> Response:
    form = {"_form": "decline", "reasons": reasons}
    return _act(page, application_id, form, lambda a: decline(page.session, page.user, a.id, reasons=reasons))


@router.post("/applications/{application_id}/withdraw", include_in_schema=False)
def withdraw_page(page: Editor, application_id: str, reason: Annotated[str, Form()] = "") -> Response:
    form = {"_form": "withdraw", "withdraw_reason": reason}
    return _act(page, application_id, form, lambda a: withdraw(page.session, page.user, a.id, reason=reason))
