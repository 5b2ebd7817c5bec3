"""Jobs pages: a workspace's jobs with live progress (htmx polling), a submit form per kind with the
problem shown beside its field, cancel and resume, the allocation next to what was used; and the
operator's page that sets each workspace's compute allocation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from finsandbox.errors import FinsandboxError, InvalidRequest, NotFound
from finsandbox.jobs import iter_kinds, service
from finsandbox.programme import list_endpoints
from finsandbox.store.models import Job, Workspace
from finsandbox.web.base import Editor, Page, Viewer, field_errors
from finsandbox.web.workspaces import workspace_for

router = APIRouter()


def job_for(page: Page, job_id: str, action: str = "job.view") -> Job:
    try:
        job = service.get_job(page.session, job_id)
    except NotFound:
        raise NotFound(f"no job {job_id!r}") from None
    page.authorize(action, job, subject=f"job {job_id!r}")
    return job


def _kinds() -> list[dict[str, Any]]:
    return [{"name": k.name, "title": k.title or k.name, "fields": k.fields} for k in iter_kinds()]


def _jobs(page: Page, ws: Workspace) -> list[dict[str, Any]]:
    return [
        service.as_dict(j, slug=ws.slug)
        for j in service.list_jobs(page.session, workspace_ids=[ws.id], limit=100)
    ]


def _jobs_page(
    page: Page,
    slug: str,
    *,
    kind: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    from finsandbox.evals.datasets import list_datasets

    ws = workspace_for(page, slug, "job.view")
    can_submit = page.may("job.submit", ws)
    return page.render(
        "jobs.html",
        {
            "ws": ws,
            "jobs": _jobs(page, ws),
            "kinds": _kinds(),
            "allocation": service.allocation(page.session, ws.id).as_dict(),
            "can_submit": can_submit,
            "can_cancel": page.may("job.cancel", ws),
            "endpoints": [e.name for e in list_endpoints(page.session, ws.id)],
            "datasets": [d.name for d in list_datasets(page.session, page.user, ws)] if can_submit else [],
            "kind": kind,
            "form": form or {},
            "errors": errors or {},
            "live": any(not j["final"] and j["state"] != "interrupted" for j in _jobs(page, ws)),
        },
        status,
    )


@router.get("/w/{slug}/jobs", include_in_schema=False)
def jobs_page(page: Viewer, slug: str) -> Response:
    return _jobs_page(page, slug)


@router.get("/w/{slug}/jobs/table", include_in_schema=False)
def jobs_table(page: Viewer, slug: str) -> Response:
    """The job list alone, polled by the page while a job is queued or running."""
    ws = workspace_for(page, slug, "job.view")
    jobs = _jobs(page, ws)
    return page.render(
        "_jobs_table.html",
        {
            "ws": ws,
            "jobs": jobs,
            "can_submit": page.may("job.submit", ws),
            "can_cancel": page.may("job.cancel", ws),
            "live": any(not j["final"] and j["state"] != "interrupted" for j in jobs),
        },
    )


@router.post("/w/{slug}/jobs", include_in_schema=False)
async def submit_job(page: Editor, slug: str, request: Request) -> Response:
    ws = workspace_for(page, slug, "job.submit")
    data = await request.form()
    kind = str(data.get("kind") or "")
    known = {k["name"]: k for k in _kinds()}
    fields = known.get(kind, {}).get("fields", {})
    form = {name: str(data.get(name) or "").strip() for name in fields}
    params: dict[str, Any] = {k: v for k, v in form.items() if v != ""}
    try:
        if kind not in known:
            raise InvalidRequest("choose a kind of job", param="kind")
        with page.session.begin_nested():
            job = service.submit(page.session, ws, kind, params, actor=page.actor)
    except FinsandboxError as exc:
        return _jobs_page(page, slug, kind=kind, form=form, errors=field_errors(exc), status=400)
    return RedirectResponse(f"/w/{ws.slug}/jobs?submitted={job.id}#job-{job.id}", status_code=303)


@router.post("/jobs/{job_id}/cancel", include_in_schema=False)
def cancel_job(page: Editor, job_id: str) -> Response:
    job = job_for(page, job_id, "job.cancel")
    service.cancel(page.session, job, actor=page.actor)
    return RedirectResponse(f"/w/{job.workspace.slug}/jobs#job-{job.id}", status_code=303)


@router.post("/jobs/{job_id}/resume", include_in_schema=False)
def resume_job(page: Editor, job_id: str) -> Response:
    job = job_for(page, job_id, "job.resume")
    service.resume(page.session, job, actor=page.actor)
    return RedirectResponse(f"/w/{job.workspace.slug}/jobs#job-{job.id}", status_code=303)


@router.get("/jobs/{job_id}/artifacts/{name}", include_in_schema=False)
def job_artifact(page: Viewer, job_id: str, name: str) -> Response:
    job = job_for(page, job_id)
    path = service.artifact(job, name)
    return FileResponse(
        path,
        media_type="application/x-ndjson" if name.endswith(".jsonl") else "application/octet-stream",
        filename=f"job-{job.id[:8]}-{name}",
    )


# --- the operator's allocations -------------------------------------------------------------------------


def _allocations_page(
    page: Page, errors: dict[str, dict[str, str]] | None = None, status: int = 200
) -> HTMLResponse:
    page.authorize("job.allocation.set")
    rows = []
    for ws in page.session.scalars(select(Workspace).order_by(Workspace.slug)):
        rows.append({"ws": ws, "allocation": service.allocation(page.session, ws.id).as_dict()})
    return page.render("allocations.html", {"rows": rows, "errors": errors or {}}, status)


@router.get("/operations/allocations", include_in_schema=False)
def allocations(page: Viewer) -> Response:
    return _allocations_page(page)


@router.post("/operations/allocations/{slug}", include_in_schema=False)
async def set_allocation(page: Editor, slug: str, request: Request) -> Response:
    ws = workspace_for(page, slug, "job.allocation.set")
    data = await request.form()
    limits: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in ("cpu_seconds", "gpu_seconds", "tokens"):
        raw = str(data.get(name) or "").strip()
        if raw == "":
            limits[name] = None
            continue
        try:
            limits[name] = float(raw)
        except ValueError:
            errors[name] = "a number, or blank for no limit"
    if not errors:
        try:
            with page.session.begin_nested():
                service.set_allocation(page.session, ws, limits, actor=page.actor)
        except FinsandboxError as exc:
            errors = field_errors(exc)
    if errors:
        return _allocations_page(page, {ws.slug: errors}, status=400)
    return RedirectResponse(f"/operations/allocations#alloc-{ws.slug}", status_code=303)
