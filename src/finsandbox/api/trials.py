"""Suites and trials over the JSON API, for a bank's CI pipeline as much as for people.

A trial launched here runs in this server (through its own gateway, so every call is metered,
guarded and in the ledger); its scorecard is built when it completes. Poll `GET /trials/{id}` for
progress, read results as they arrive, cancel it, export it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from finsandbox import usecases
from finsandbox.access.authz import authorize
from finsandbox.api.deps import Reader, Writer
from finsandbox.errors import InvalidRequest, NotFound
from finsandbox.evals.plan import load_reference_suite
from finsandbox.evals.trials import (
    FINAL,
    TrialConfig,
    create_trial,
    export,
    get_trial,
    list_trials,
    request_cancel,
    results,
)
from finsandbox.programme.workspaces import get_workspace
from finsandbox.store.models import Review, Scorecard, Trial
from finsandbox.supervision import suites as own

router = APIRouter(tags=["trials"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScorerChoice(_In):
    name: str
    threshold: float | None = Field(default=None, ge=0, le=1_000_000)


class SuiteIn(_In):
    name: str = Field(
        description="lower-case letters, digits, '.', '_' or '-'; saving again makes a new version"
    )
    dataset_id: str
    input_column: str = "input"
    expected_column: str = "expected"
    id_column: str = "id"
    scorers: list[ScorerChoice] = Field(min_length=1)
    principles: list[str] = Field(min_length=1, description="principle ids of the programme's framework")
    attacks: list[str] = Field(default_factory=list, description="attacks that add adversarial variants")
    system_prompt: str = Field(default="", max_length=20_000, description="the app template's system prompt")
    description: str = Field(default="", max_length=2_000)


class SuiteOut(BaseModel):
    ref: str = Field(description="what a trial's `suite` takes: a theme's reference suite or own:NAME@vN")
    name: str
    kind: str = Field(description="reference or own")
    version: str
    description: str
    recipes: int
    cases: int | None
    path: str | None = Field(description="the suite YAML on the server (own suites), for the CLI")
    digest: str | None
    created_at: datetime | None


class TrialIn(_In):
    suite: str = Field(description="a theme (reference suite) or own:NAME[@vN]")
    endpoint: str
    name: str | None = Field(default=None, max_length=200)
    max_cases: int | None = Field(default=None, ge=1, le=100_000, description="per recipe")
    max_variants: int | None = Field(default=1, ge=0, le=100)
    max_tokens: int = Field(default=256, ge=1, le=32_768)
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    concurrency: int = Field(default=4, ge=1, le=64)


class TrialOut(BaseModel):
    id: str
    name: str
    workspace: str
    status: str = Field(description="pending, running, cancelling, completed, failed, cancelled, interrupted")
    final: bool
    endpoint: str
    suites: list[dict[str, Any]]
    total_cases: int
    done_cases: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    scorecard_id: str | None = Field(description="the latest scorecard, built when the trial completed")
    overall_grade: str | None
    summary: dict[str, Any] | None


class CaseResultOut(BaseModel):
    id: str
    item: str
    suite: str
    recipe: str
    case_id: str
    attack: str | None
    passed: bool | None
    error: str | None
    latency_ms: float
    output: str | None
    scores: list[dict[str, Any]]


class ResultsPage(BaseModel):
    trial: str
    status: str
    total: int
    offset: int
    results: list[CaseResultOut]


def _trial_for(caller: Reader | Writer, trial_id: str, action: str = "trial.view") -> Trial:
    try:
        trial = get_trial(caller.session, trial_id)
    except NotFound:
        raise NotFound(f"no trial {trial_id!r}") from None
    authorize(caller.user, action, trial.workspace, subject=f"trial {trial_id!r}")
    return trial


def _trial(caller: Reader | Writer, trial: Trial) -> dict[str, Any]:
    card = caller.session.scalars(
        select(Scorecard).where(Scorecard.trial_id == trial.id).order_by(Scorecard.version.desc())
    ).first()
    return {
        "id": trial.id,
        "name": trial.name,
        "workspace": trial.workspace.slug,
        "status": trial.status,
        "final": trial.status in FINAL,
        "endpoint": trial.config.get("endpoint", ""),
        "suites": [{k: s.get(k) for k in ("ref", "name", "digest")} for s in trial.config.get("suites", [])],
        "total_cases": trial.total_cases,
        "done_cases": trial.done_cases,
        "created_by": trial.created_by,
        "created_at": trial.created_at,
        "started_at": trial.started_at,
        "finished_at": trial.finished_at,
        "error": trial.error,
        "scorecard_id": card.id if card else None,
        "overall_grade": card.data["overall"].get("grade") if card else None,
        "summary": trial.summary,
    }


def _own(s: own.OwnSuite) -> dict[str, Any]:
    return {
        "ref": s.ref,
        "name": s.name,
        "kind": "own",
        "version": f"v{s.version}",
        "description": s.description,
        "recipes": s.recipes,
        "cases": s.cases,
        "path": str(s.path),
        "digest": s.digest,
        "created_at": s.created_at,
    }


@router.get("/workspaces/{slug}/suites", response_model=list[SuiteOut], summary="Suites a trial can run")
def suites(slug: str, caller: Reader) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    reference = []
    for theme in usecases.THEMES:
        suite = load_reference_suite(theme)
        reference.append(
            {
                "ref": theme,
                "name": suite.name,
                "kind": "reference",
                "version": suite.version,
                "description": suite.description.strip(),
                "recipes": len(suite.recipes),
                "cases": None,
                "path": None,
                "digest": None,
                "created_at": None,
            }
        )
    return reference + [_own(s) for s in own.list_suites(caller.session, caller.user, ws)]


@router.post(
    "/workspaces/{slug}/suites",
    response_model=SuiteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Save an own suite from a dataset (a new version each time)",
)
def save_suite(slug: str, body: SuiteIn, caller: Writer) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    data = body.model_dump()
    return _own(own.save_suite(caller.session, caller.user, ws, **data))


@router.get(
    "/workspaces/{slug}/suites/{name}", response_model=list[SuiteOut], summary="An own suite's versions"
)
def suite_versions(slug: str, name: str, caller: Reader) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    return [_own(s) for s in own.suite_versions(caller.session, caller.user, ws, name)]


@router.get("/workspaces/{slug}/trials", response_model=list[TrialOut], summary="The workspace's trials")
def trials(slug: str, caller: Reader) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    authorize(caller.user, "trial.view", ws)
    return [_trial(caller, t) for t in list_trials(caller.session, ws.id)]


def _gateway_url(request: Request) -> str:
    server = request.scope.get("server")
    if not server:
        raise InvalidRequest("trials run through this server's gateway; run it with `finsandbox serve`")
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/v1"


@router.post(
    "/workspaces/{slug}/trials",
    response_model=TrialOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Launch a trial (owners and developers); poll it until `final`",
)
def launch(slug: str, body: TrialIn, caller: Writer, request: Request) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    authorize(caller.user, "trial.launch", ws)
    ref = body.suite
    if ref.startswith(own.OWN_PREFIX):
        ref = str(own.resolve(caller.session, caller.user, ws, ref).path)
    elif ref not in usecases.THEMES:
        raise InvalidRequest(
            f"unknown suite {body.suite!r}; use a theme ({', '.join(usecases.THEMES)}) or own:NAME[@vN]",
            param="suite",
        )
    trial = create_trial(
        caller.session,
        TrialConfig(
            workspace=ws.slug,
            endpoint=body.endpoint,
            suites=[ref],
            name=body.name,
            max_cases=body.max_cases,
            max_variants=body.max_variants,
            max_tokens=body.max_tokens,
            temperature=body.temperature,
            seed=body.seed,
            concurrency=body.concurrency,
            gateway_url=_gateway_url(request),
        ),
        actor=caller.actor,
    )
    caller.session.flush()
    from finsandbox.evals.background import run_in_background
    from finsandbox.supervision.completion import scorecard_on_completion

    out = _trial(caller, trial)
    run_in_background(trial.id, caller.actor, on_finish=scorecard_on_completion)
    return out


@router.get("/trials/{trial_id}", response_model=TrialOut, summary="A trial and its progress")
def read(trial_id: str, caller: Reader) -> dict[str, Any]:
    return _trial(caller, _trial_for(caller, trial_id))


@router.post("/trials/{trial_id}/cancel", response_model=TrialOut, summary="Cancel a running trial")
def cancel(trial_id: str, caller: Writer) -> dict[str, Any]:
    trial = _trial_for(caller, trial_id, "trial.launch")
    request_cancel(caller.session, trial.id, actor=caller.actor)
    return _trial(caller, trial)


@router.get("/trials/{trial_id}/results", response_model=ResultsPage, summary="Case results so far")
def trial_results(
    trial_id: str,
    caller: Reader,
    offset: int = Query(default=0, ge=0),
    limit: int = Query(default=200, ge=1, le=5_000),
    outcome: str | None = Query(default=None, description="pass, fail or error"),
) -> dict[str, Any]:
    trial = _trial_for(caller, trial_id)
    rows = results(caller.session, trial.id)
    if outcome not in (None, "pass", "fail", "error"):
        raise InvalidRequest("outcome must be pass, fail or error", param="outcome")
    if outcome:
        rows = [
            r
            for r in rows
            if (outcome == "pass" and r.passed is True)
            or (outcome == "fail" and r.passed is False)
            or (outcome == "error" and r.error is not None)
        ]
    page = rows[offset : offset + limit]
    return {
        "trial": trial.id,
        "status": trial.status,
        "total": len(rows),
        "offset": offset,
        "results": [{c: getattr(r, c) for c in CaseResultOut.model_fields} for r in page],
    }


@router.get(
    "/trials/{trial_id}/export",
    response_class=PlainTextResponse,
    summary="Every case result as JSONL or CSV",
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def trial_export(
    trial_id: str, caller: Reader, format: str = Query(default="jsonl", pattern="^(jsonl|csv)$")
) -> PlainTextResponse:
    trial = _trial_for(caller, trial_id)
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return PlainTextResponse(
        export(caller.session, trial.id, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="trial-{trial.id}.{format}"'},
    )


@router.get(
    "/workspaces/{slug}/scorecards/accepted",
    response_model=dict[str, Any],
    summary="The scorecard of the latest accepted review: the baseline a CI pipeline compares with",
)
def accepted(slug: str, caller: Reader) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    authorize(caller.user, "scorecard.view", ws)
    review = caller.session.scalars(
        select(Review)
        .where(Review.workspace_id == ws.id, Review.status == "accepted")
        .order_by(Review.decided_at.desc())
    ).first()
    if review is None:
        raise NotFound(f"workspace {ws.slug} has no accepted review yet")
    card = review.scorecard
    return {
        "review_id": review.id,
        "decided_at": review.decided_at,
        "scorecard_id": card.id,
        "trial_id": card.trial_id,
        "version": card.version,
        "overall": card.data["overall"],
        "principles": {
            pid: {k: p.get(k) for k in ("name", "pass_rate", "grade", "judged", "passed")}
            for pid, p in card.data["principles"].items()
        },
    }
