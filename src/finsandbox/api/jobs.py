"""Jobs on the shared compute pool over the JSON API: submit, list, read (poll for progress), cancel,
resume, download an artifact; each workspace's compute allocation (read by members, set by operators).

A job submitted here is queued; the server's runner (or `finsandbox job work`) runs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from finsandbox.access.authz import authorize
from finsandbox.api.deps import Reader, Writer
from finsandbox.errors import NotFound
from finsandbox.jobs import service
from finsandbox.programme.workspaces import get_workspace, list_workspaces
from finsandbox.store.models import Job

router = APIRouter(tags=["jobs"])


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=60, description="batch_trial, batch_inference, or another registered kind")
    params: dict[str, Any] = Field(
        default_factory=dict, description="the kind's parameters (see GET /job-kinds)"
    )


class Progress(BaseModel):
    done: int
    total: int
    fraction: float | None
    message: str


class Used(BaseModel):
    cpu_seconds: float
    gpu_seconds: float
    tokens: int


class JobOut(BaseModel):
    id: str
    workspace: str
    kind: str
    state: str = Field(description="queued, running, cancelling, cancelled, failed, succeeded, interrupted")
    final: bool
    resumable: bool
    params: dict[str, Any]
    estimate: dict[str, float]
    progress: Progress
    result: dict[str, Any] | None
    error: str | None
    used: Used
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    artifacts: list[str]


class KindOut(BaseModel):
    name: str
    title: str
    fields: dict[str, dict[str, Any]]


class Limit(BaseModel):
    limit: float | None = Field(description="None: no limit set")
    used: float
    left: float | None


class AllocationOut(BaseModel):
    workspace: str
    cpu_seconds: Limit
    gpu_seconds: Limit
    tokens: Limit


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_seconds: float | None = Field(default=None, ge=0, le=1e12, description="None lifts the limit")
    gpu_seconds: float | None = Field(default=None, ge=0, le=1e12)
    tokens: int | None = Field(default=None, ge=0, le=10**15)


def _job_for(caller: Reader | Writer, job_id: str, action: str = "job.view") -> Job:
    try:
        job = service.get_job(caller.session, job_id)
    except NotFound:
        raise NotFound(f"no job {job_id!r}") from None
    authorize(caller.user, action, job, subject=f"job {job_id!r}")
    return job


@router.get("/job-kinds", response_model=list[KindOut], summary="The kinds of job and their parameters")
def kinds(caller: Reader) -> list[dict[str, Any]]:
    from finsandbox.jobs import iter_kinds

    return [{"name": k.name, "title": k.title or k.name, "fields": k.fields} for k in iter_kinds()]


@router.get(
    "/workspaces/{slug}/jobs", response_model=list[JobOut], summary="A workspace's jobs, newest first"
)
def workspace_jobs(
    slug: str, caller: Reader, state: str | None = Query(default=None, max_length=20)
) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "job.view", ws)
    return [
        service.as_dict(j, slug=ws.slug)
        for j in service.list_jobs(caller.session, workspace_ids=[ws.id], state=state)
    ]


@router.get("/jobs", response_model=list[JobOut], summary="Every job the caller may see, newest first")
def all_jobs(caller: Reader, state: str | None = Query(default=None, max_length=20)) -> list[dict[str, Any]]:
    ids = None
    if caller.user.role == "participant":
        ids = [w.id for w in list_workspaces(caller.session, user=caller.user)]
    return [service.as_dict(j) for j in service.list_jobs(caller.session, workspace_ids=ids, state=state)]


@router.post(
    "/workspaces/{slug}/jobs",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a job (owners and developers); 409 allocation_exceeded when the estimate does not fit",
)
def submit(slug: str, body: JobIn, caller: Writer) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "job.submit", ws)
    job = service.submit(caller.session, ws, body.kind, body.params, actor=caller.actor)
    return service.as_dict(job, slug=ws.slug)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job and its progress")
def read(job_id: str, caller: Reader) -> dict[str, Any]:
    return service.as_dict(_job_for(caller, job_id))


@router.post(
    "/jobs/{job_id}/cancel", response_model=JobOut, summary="Cancel a queued job or stop a running one"
)
def cancel(job_id: str, caller: Writer) -> dict[str, Any]:
    job = _job_for(caller, job_id, "job.cancel")
    return service.as_dict(service.cancel(caller.session, job, actor=caller.actor))


@router.post(
    "/jobs/{job_id}/resume", response_model=JobOut, summary="Queue a stopped job again, from its checkpoint"
)
def resume(job_id: str, caller: Writer) -> dict[str, Any]:
    job = _job_for(caller, job_id, "job.resume")
    return service.as_dict(service.resume(caller.session, job, actor=caller.actor))


@router.get(
    "/jobs/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    summary="A file the job produced (batch inference: outputs.jsonl)",
    responses={200: {"content": {"application/x-ndjson": {}, "application/octet-stream": {}}}},
)
def artifact(job_id: str, name: str, caller: Reader) -> FileResponse:
    job = _job_for(caller, job_id)
    path = service.artifact(job, name)
    media = "application/x-ndjson" if name.endswith(".jsonl") else "application/octet-stream"
    return FileResponse(path, media_type=media, filename=f"job-{job.id[:8]}-{name}")


@router.get(
    "/workspaces/{slug}/allocation", response_model=AllocationOut, summary="Compute allocation and use"
)
def get_allocation(slug: str, caller: Reader) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "job.allocation.view", ws)
    return {"workspace": ws.slug, **service.allocation(caller.session, ws.id).as_dict()}


@router.put(
    "/workspaces/{slug}/allocation", response_model=AllocationOut, summary="Set the allocation (operators)"
)
def put_allocation(slug: str, body: AllocationIn, caller: Writer) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "job.allocation.set", ws)
    alloc = service.set_allocation(caller.session, ws, body.model_dump(), actor=caller.actor)
    return {"workspace": ws.slug, **alloc.as_dict()}
