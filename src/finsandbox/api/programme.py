"""The programme over the JSON API: cohorts, applications (submit, assess, admit, decline, withdraw),
the workspaces you may see and their lifecycle state. Authorisation is the services'; routes translate."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from finsandbox.api.deps import Reader, Writer
from finsandbox.programme import applications as apps
from finsandbox.programme import cohorts, lifecycle
from finsandbox.programme.rubric import load_rubric
from finsandbox.programme.workspaces import get_workspace, list_members, list_workspaces
from finsandbox.store.models import Cohort, User, Workspace

router = APIRouter(tags=["programme"])

STATE_HELP = "lifecycle state: " + ", ".join(lifecycle.STATES)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- shapes -------------------------------------------------------------------------------------


class CohortIn(_In):
    name: str
    themes: list[str] = Field(default_factory=list)
    starts_on: date | None = None
    ends_on: date | None = None
    min_group_size: int = Field(default=3, ge=1, le=1_000_000)
    planned: bool = Field(default=False, description="create it planned, not yet taking applications")


class CohortOut(BaseModel):
    id: str
    name: str
    themes: list[str]
    starts_on: date | None
    ends_on: date | None
    status: str = Field(description="planned, open (taking applications) or closed")
    min_group_size: int
    applications: int = Field(description="applications you may see")
    use_cases: int = Field(description="workspaces you may see")


class ApplicationIn(_In):
    cohort: str = Field(description="the cohort's name or id")
    title: str
    theme: str = Field(description="risk_management, anti_fraud, customer_service, process_reengineering")
    description: str
    approach: str = Field(description="rag, fine_tuning, prompting or agent")
    data_used: str
    expected_benefit: str
    risk_materiality: str = Field(description="the bank's self-assessment: low, medium or high")
    risk_notes: str = ""
    tech_partner: str | None = Field(default=None, description="the tech partner institution's name")
    members: list[str] = Field(default_factory=list, description="emails of bank or tech-partner users")


class ApplicationPatch(_In):
    title: str | None = None
    theme: str | None = None
    description: str | None = None
    approach: str | None = None
    data_used: str | None = None
    expected_benefit: str | None = None
    risk_materiality: str | None = None
    risk_notes: str | None = None
    tech_partner: str | None = Field(default=None, description="an empty string removes the tech partner")
    members: list[str] | None = None


class MemberOut(BaseModel):
    email: str
    role: str


class CriterionStatsOut(BaseModel):
    id: str
    name: str
    weight: float
    mean: float | None
    min: int | None
    max: int | None
    spread: int | None = Field(description="max - min: how far the assessors disagree")
    stdev: float | None


class AssessorOut(BaseModel):
    assessor: str
    weighted: float
    scores: dict[str, int]
    comment: str


class AggregateOut(BaseModel):
    rubric: str
    rubric_digest: str
    min_assessments: int
    assessors: int
    enough: bool = Field(description="whether admission may go ahead without forcing")
    overall: float | None = Field(description="mean over assessors of each one's weighted mean")
    criteria: list[CriterionStatsOut]
    by_assessor: list[AssessorOut]
    stale: int
    notes: list[str]


class ApplicationSummary(BaseModel):
    id: str
    title: str
    cohort: str
    bank: str
    tech_partner: str | None
    theme: str
    approach: str
    risk_materiality: str
    state: str = Field(description=STATE_HELP)
    workspace: str | None
    created_at: datetime


class ApplicationOut(ApplicationSummary):
    cohort_id: str
    submitted_by: str
    state_label: str
    next_states: list[str]
    description: str
    data_used: str
    expected_benefit: str
    risk_notes: str
    approach_label: str
    members: list[MemberOut]
    decision_reasons: str | None
    decided_by: str | None
    decided_at: datetime | None
    forced_reason: str | None
    updated_at: datetime
    assessment: AggregateOut | None = Field(description="rubric scores; only for supervisors")


class AssessmentIn(_In):
    scores: dict[str, int] = Field(description="one whole-number score per rubric criterion id")
    comment: str = ""


class AdmitIn(_In):
    force_reason: str | None = Field(
        default=None, description="admit with fewer assessments than the rubric asks, for this reason"
    )
    slug: str | None = Field(default=None, description="the workspace slug (default: from the title)")
    endpoint: bool = Field(default=True, description="create an endpoint on the embedded model")


class DeclineIn(_In):
    reasons: str


class WithdrawIn(_In):
    reason: str = ""


class WorkspaceOut(BaseModel):
    id: str
    slug: str
    name: str
    theme: str
    bank: str
    cohort: str | None
    state: str = Field(description=STATE_HELP)
    state_label: str
    next_states: list[str]
    application_id: str | None
    members: list[MemberOut]
    created_at: datetime


class HistoryOut(BaseModel):
    seq: int
    at: str
    actor: str
    kind: str
    to: str | None
    from_: str | None = Field(default=None, alias="from")

    model_config = ConfigDict(populate_by_name=True)


class WorkspaceStateOut(BaseModel):
    workspace: str
    state: str
    state_label: str
    next_states: list[str]
    application_id: str | None
    history: list[HistoryOut]


class StateIn(_In):
    to: str = Field(description="concluded, withdrawn, experimenting or under_review")
    note: str = Field(default="", description="why; the exit decision when concluding")


class CriterionOut(BaseModel):
    id: str
    name: str
    description: str
    weight: float


class RubricOut(BaseModel):
    name: str
    version: str
    title: str
    digest: str
    min_assessments: int
    scale_min: int
    scale_max: int
    criteria: list[CriterionOut]


# --- helpers ------------------------------------------------------------------------------------


def _cohort(caller: Reader | Writer, c: Cohort) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "themes": c.themes,
        "starts_on": c.starts_on,
        "ends_on": c.ends_on,
        "status": c.status,
        "min_group_size": c.min_group_size,
        "applications": len(apps.list_applications(caller.session, user=caller.user, cohort=c.id)),
        "use_cases": len(list_workspaces(caller.session, user=caller.user, cohort_id=c.id)),
    }


def _application(caller: Reader | Writer, application_id: str) -> dict[str, Any]:
    caller.session.flush()
    application = apps.get_application(caller.session, application_id, user=caller.user)
    return apps.application_as_dict(caller.session, application, user=caller.user)


def _workspace(caller: Reader | Writer, ws: Workspace) -> dict[str, Any]:
    application = lifecycle.application_of(caller.session, ws)
    return {
        "id": ws.id,
        "slug": ws.slug,
        "name": ws.name,
        "theme": ws.theme,
        "bank": ws.bank.name,
        "cohort": caller.session.get(Cohort, ws.cohort_id).name if ws.cohort_id else None,  # type: ignore[union-attr]
        "state": ws.status,
        "state_label": lifecycle.label(ws.status),
        "next_states": lifecycle.next_states(ws.status),
        "application_id": application.id if application else None,
        "members": [{"email": m.user.email, "role": m.role} for m in list_members(caller.session, ws)],
        "created_at": ws.created_at,
    }


def _actor(user: User) -> str:
    return f"user:{user.email}"


# --- cohorts ------------------------------------------------------------------------------------


@router.get("/cohorts", response_model=list[CohortOut], summary="Cohorts (every signed-in person)")
def list_cohorts(
    caller: Reader, status_: str | None = Query(default=None, alias="status")
) -> list[dict[str, Any]]:
    return [
        _cohort(caller, c) for c in cohorts.list_cohorts(caller.session, user=caller.user, status=status_)
    ]


@router.post(
    "/cohorts", response_model=CohortOut, status_code=status.HTTP_201_CREATED, summary="Create a cohort"
)
def create_cohort(body: CohortIn, caller: Writer) -> dict[str, Any]:
    c = cohorts.create_cohort(
        caller.session,
        name=body.name,
        themes=body.themes,
        actor=caller.actor,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        min_group_size=body.min_group_size,
        user=caller.user,
        status="planned" if body.planned else "open",
    )
    return _cohort(caller, c)


@router.get("/cohorts/{name}", response_model=CohortOut, summary="One cohort, by name or id")
def read_cohort(name: str, caller: Reader) -> dict[str, Any]:
    return _cohort(caller, cohorts.get_cohort(caller.session, name, user=caller.user))


@router.post("/cohorts/{name}/open", response_model=CohortOut, summary="Start taking applications")
def open_cohort(name: str, caller: Writer) -> dict[str, Any]:
    c = cohorts.get_cohort(caller.session, name, user=caller.user)
    return _cohort(caller, cohorts.open_cohort(caller.session, c, actor=caller.actor, user=caller.user))


@router.post("/cohorts/{name}/close", response_model=CohortOut, summary="Stop taking applications")
def close_cohort(name: str, caller: Writer) -> dict[str, Any]:
    c = cohorts.get_cohort(caller.session, name, user=caller.user)
    return _cohort(caller, cohorts.close_cohort(caller.session, c, actor=caller.actor, user=caller.user))


# --- applications -------------------------------------------------------------------------------


@router.get("/rubric", response_model=RubricOut, summary="The admission rubric")
def rubric(caller: Reader) -> dict[str, Any]:
    loaded = load_rubric()
    r = loaded.rubric
    return {
        "name": r.name,
        "version": r.version,
        "title": r.title,
        "digest": loaded.digest,
        "min_assessments": r.min_assessments,
        "scale_min": r.scale.min,
        "scale_max": r.scale.max,
        "criteria": [c.model_dump() for c in r.criteria],
    }


@router.get("/applications", response_model=list[ApplicationSummary], summary="Applications you may see")
def list_applications(
    caller: Reader,
    cohort: str | None = Query(default=None),
    state: str | None = Query(default=None, description=STATE_HELP),
) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "title": a.title,
            "cohort": a.cohort.name,
            "bank": a.bank.name,
            "tech_partner": a.tech_partner.name if a.tech_partner else None,
            "theme": a.theme,
            "approach": a.approach,
            "risk_materiality": a.risk_materiality,
            "state": lifecycle.state_of(a),
            "workspace": a.workspace.slug if a.workspace else None,
            "created_at": a.created_at,
        }
        for a in apps.list_applications(caller.session, user=caller.user, cohort=cohort, status=state)
    ]


@router.post(
    "/applications",
    response_model=ApplicationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Submit an application (bank users)",
)
def submit(body: ApplicationIn, caller: Writer) -> dict[str, Any]:
    a = apps.submit_application(caller.session, caller.user, **body.model_dump())
    return _application(caller, a.id)


@router.get("/applications/{application_id}", response_model=ApplicationOut, summary="One application")
def read_application(application_id: str, caller: Reader) -> dict[str, Any]:
    return _application(caller, application_id)


@router.patch(
    "/applications/{application_id}",
    response_model=ApplicationOut,
    summary="Change a proposed application (the applicant bank)",
)
def update(application_id: str, body: ApplicationPatch, caller: Writer) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    apps.update_application(caller.session, caller.user, application_id, **changes)
    return _application(caller, application_id)


@router.post(
    "/applications/{application_id}/start-assessment",
    response_model=ApplicationOut,
    summary="Take a proposed application into assessment (supervisors)",
)
def start_assessment(application_id: str, caller: Writer) -> dict[str, Any]:
    apps.start_assessment(caller.session, caller.user, application_id)
    return _application(caller, application_id)


@router.post(
    "/applications/{application_id}/assessments",
    response_model=ApplicationOut,
    summary="Score on the rubric (supervisors; again to revise)",
)
def assess(application_id: str, body: AssessmentIn, caller: Writer) -> dict[str, Any]:
    apps.assess(caller.session, caller.user, application_id, scores=body.scores, comment=body.comment)
    return _application(caller, application_id)


@router.get(
    "/applications/{application_id}/assessments",
    response_model=AggregateOut,
    summary="Aggregated rubric scores (supervisors)",
)
def assessments(application_id: str, caller: Reader) -> dict[str, Any]:
    return apps.assessment_summary(caller.session, caller.user, application_id).as_dict()


@router.post(
    "/applications/{application_id}/admit",
    response_model=ApplicationOut,
    summary="Admit: creates the workspace with its team (supervisors)",
)
def admit(application_id: str, body: AdmitIn, caller: Writer) -> dict[str, Any]:
    apps.admit(
        caller.session,
        caller.user,
        application_id,
        force_reason=body.force_reason,
        slug=body.slug,
        endpoint=body.endpoint,
    )
    return _application(caller, application_id)


@router.post(
    "/applications/{application_id}/decline",
    response_model=ApplicationOut,
    summary="Decline with reasons (supervisors)",
)
def decline(application_id: str, body: DeclineIn, caller: Writer) -> dict[str, Any]:
    apps.decline(caller.session, caller.user, application_id, reasons=body.reasons)
    return _application(caller, application_id)


@router.post(
    "/applications/{application_id}/withdraw",
    response_model=ApplicationOut,
    summary="Withdraw (the applicant bank)",
)
def withdraw(application_id: str, body: WithdrawIn, caller: Writer) -> dict[str, Any]:
    apps.withdraw(caller.session, caller.user, application_id, reason=body.reason)
    return _application(caller, application_id)


# --- workspaces ---------------------------------------------------------------------------------


@router.get("/workspaces", response_model=list[WorkspaceOut], summary="Workspaces you may see")
def workspaces(
    caller: Reader,
    cohort: str | None = Query(default=None),
    state: str | None = Query(default=None, description=STATE_HELP),
) -> list[dict[str, Any]]:
    cohort_id = cohorts.get_cohort(caller.session, cohort, user=caller.user).id if cohort else None
    found = list_workspaces(caller.session, user=caller.user, cohort_id=cohort_id, status=state)
    return [_workspace(caller, w) for w in found]


@router.get("/workspaces/{slug}", response_model=WorkspaceOut, summary="One workspace")
def read_workspace(slug: str, caller: Reader) -> dict[str, Any]:
    return _workspace(caller, get_workspace(caller.session, slug, user=caller.user))


@router.get(
    "/workspaces/{slug}/state", response_model=WorkspaceStateOut, summary="Lifecycle state and history"
)
def workspace_state(slug: str, caller: Reader) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    return lifecycle.workspace_state(caller.session, ws)


@router.post(
    "/workspaces/{slug}/state",
    response_model=WorkspaceStateOut,
    summary="Move a use case: conclude (supervisors), withdraw (the bank's members)",
)
def move_workspace(slug: str, body: StateIn, caller: Writer) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    lifecycle.change_state(caller.session, caller.user, ws, body.to, note=body.note)
    return lifecycle.workspace_state(caller.session, ws)
