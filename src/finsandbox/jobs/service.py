"""Jobs as a service: submit (checked, estimated, admitted against the allocation), list, read, cancel,
resume; compute allocations and what each workspace used. Every step is a ledger entry `job.*`.

The edges (CLI, API, web) authorise and then call these with a session; the runner (`jobs.runner`)
claims queued jobs and runs them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.closure import ensure_open
from finsandbox.config import get_settings, private_dir
from finsandbox.errors import ConfigError, Conflict, InvalidRequest, NotFound
from finsandbox.jobs.base import RESOURCES, AllocationExceeded, get_kind
from finsandbox.store.models import ComputeAllocation, Job, Workspace

STATES = ("queued", "running", "cancelling", "cancelled", "failed", "succeeded", "interrupted")
FINAL = ("cancelled", "failed", "succeeded")
ACTIVE = ("running", "cancelling")
RESUMABLE = ("interrupted", "failed", "cancelled")
"""A job stopped before its end (runner died, cancelled, failed, allocation spent) goes on from its
checkpoint."""


def now() -> datetime:
    return datetime.now(UTC)


def job_dir(workspace_id: str, job_id: str) -> Path:
    """The job's private working directory, under the workspace's part of the data directory (0700)."""
    home = get_settings().ensure_home()
    return private_dir(home / "workspaces" / workspace_id / "jobs" / job_id)


# --- allocations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """A workspace's allocation next to what its jobs used; a limit of None means none was set."""

    workspace_id: str
    limits: dict[str, float | None]
    used: dict[str, float]

    def left(self, resource: str) -> float | None:
        limit = self.limits.get(resource)
        return None if limit is None else limit - self.used.get(resource, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            r: {"limit": self.limits.get(r), "used": round(self.used.get(r, 0.0), 3), "left": self.left(r)}
            for r in RESOURCES
        }


def used_by(session: Session, workspace_id: str) -> dict[str, float]:
    """What every job of the workspace was charged, all time."""
    row = session.execute(
        select(
            func.coalesce(func.sum(Job.cpu_seconds), 0.0),
            func.coalesce(func.sum(Job.gpu_seconds), 0.0),
            func.coalesce(func.sum(Job.tokens), 0),
        ).where(Job.workspace_id == workspace_id)
    ).one()
    return {"cpu_seconds": float(row[0]), "gpu_seconds": float(row[1]), "tokens": float(row[2])}


def allocation(session: Session, workspace_id: str) -> Allocation:
    row = session.get(ComputeAllocation, workspace_id)
    limits: dict[str, float | None] = {r: None for r in RESOURCES}
    if row is not None:
        limits = {"cpu_seconds": row.cpu_seconds, "gpu_seconds": row.gpu_seconds, "tokens": row.tokens}
    return Allocation(workspace_id, limits, used_by(session, workspace_id))


def set_allocation(
    session: Session, workspace: Workspace, limits: dict[str, float | None], *, actor: str
) -> Allocation:
    """Set (replace) the workspace's limits; None lifts a limit. Lowering below use stops nothing already
    finished, but a running job is stopped at its next charge."""
    for name, value in limits.items():
        if name not in RESOURCES:
            raise InvalidRequest(f"unknown resource {name!r} (known: {', '.join(RESOURCES)})", param=name)
        if value is not None and (not isinstance(value, int | float) or value < 0 or value != value):
            raise InvalidRequest(f"{name} must be a number, 0 or more", param=name)
    row = session.get(ComputeAllocation, workspace.id)
    if row is None:
        row = ComputeAllocation(workspace_id=workspace.id, set_by=actor)
        session.add(row)
    row.cpu_seconds = _float(limits.get("cpu_seconds"))
    row.gpu_seconds = _float(limits.get("gpu_seconds"))
    tokens = limits.get("tokens")
    row.tokens = None if tokens is None else int(tokens)
    row.set_by = actor
    row.updated_at = now()
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="job.allocation_set",
        workspace_id=workspace.id,
        payload={"workspace_id": workspace.id, **{r: getattr(row, r) for r in RESOURCES}},
    )
    return allocation(session, workspace.id)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def check_charge(session: Session, workspace_id: str) -> None:
    """AllocationExceeded when the workspace's jobs used more than a limit allows."""
    alloc = allocation(session, workspace_id)
    for r in RESOURCES:
        left = alloc.left(r)
        if left is not None and left < 0:
            raise AllocationExceeded(
                f"the workspace's {r.replace('_', ' ')} allocation is spent "
                f"(used {alloc.used[r]:g} of {alloc.limits[r]:g}); "
                "the operator can raise it, then resume the job",
                param=r,
            )


# --- jobs -----------------------------------------------------------------------------------------


def submit(session: Session, workspace: Workspace, kind: str, params: dict[str, Any], *, actor: str) -> Job:
    """Check the parameters, estimate the cost, refuse what the allocation cannot pay for, queue the job."""
    ensure_open(workspace, "submit jobs")
    try:
        job_kind = get_kind(kind)
    except ConfigError as exc:
        raise InvalidRequest(exc.message, param="kind") from None
    if not isinstance(params, dict):
        raise InvalidRequest("params must be an object", param="params")
    clean = job_kind.validate(dict(params), session=session, workspace_id=workspace.id)
    estimate = {k: float(v) for k, v in (job_kind.estimate(clean) or {}).items() if k in RESOURCES}
    alloc = allocation(session, workspace.id)
    for r, need in estimate.items():
        left = alloc.left(r)
        if left is not None and need > left:
            raise AllocationExceeded(
                f"this job is estimated at {need:g} {r.replace('_', ' ')} but the workspace's allocation has "
                f"{max(left, 0):g} left (of {alloc.limits[r]:g}); "
                "ask the operator for more, or make it smaller",
                param=r,
            )
    job = Job(
        workspace_id=workspace.id,
        kind=kind,
        params=clean,
        estimate=estimate,
        state="queued",
        created_by=actor,
    )
    session.add(job)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="job.submitted",
        workspace_id=workspace.id,
        payload={"job_id": job.id, "kind": kind, "params_digest": _digest(clean), "estimate": estimate},
    )
    return job


def _digest(obj: Any) -> str:
    return ledger.sha256_hex(ledger.canonical(obj))


def get_job(session: Session, job_id: str) -> Job:
    """A job by id (or a unique prefix of at least 6 characters)."""
    job = session.get(Job, job_id) if len(job_id) == 32 else None
    if job is None and len(job_id) >= 6:
        matches = list(session.scalars(select(Job).where(Job.id.startswith(job_id)).limit(2)))
        if len(matches) == 1:
            job = matches[0]
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def list_jobs(
    session: Session,
    *,
    workspace_ids: list[str] | None = None,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[Job]:
    """Newest first; `workspace_ids` None means every workspace (supervisors, operators)."""
    q = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if workspace_ids is not None:
        q = q.where(Job.workspace_id.in_(workspace_ids))
    if kind is not None:
        q = q.where(Job.kind == kind)
    if state is not None:
        if state not in STATES:
            raise InvalidRequest(f"unknown state {state!r} (known: {', '.join(STATES)})", param="state")
        q = q.where(Job.state == state)
    return list(session.scalars(q))


def cancel(session: Session, job: Job, *, actor: str) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop (`cancelling`) and its kind
    stops at its next poll."""
    if job.state in FINAL or job.state == "interrupted":
        raise Conflict(f"job {job.id} is {job.state}; there is nothing to cancel")
    if job.state == "cancelling":
        return job
    job.state = "cancelling" if job.state == "running" else "cancelled"
    job.updated_at = now()
    if job.state == "cancelled":
        job.finished_at = now()
    ledger.append(
        session,
        actor=actor,
        kind="job.cancel_requested" if job.state == "cancelling" else "job.cancelled",
        workspace_id=job.workspace_id,
        payload={"job_id": job.id, "kind": job.kind},
    )
    return job


def resume(session: Session, job: Job, *, actor: str) -> Job:
    """Queue a stopped job again; it goes on from its last checkpoint (no finished work is redone)."""
    if job.state not in RESUMABLE:
        raise Conflict(f"job {job.id} is {job.state}; only {', '.join(RESUMABLE)} jobs can be resumed")
    ensure_open(job.workspace, "resume jobs")
    check_charge(session, job.workspace_id)
    job.state = "queued"
    job.error = None
    job.finished_at = None
    job.runner = None
    job.queued_at = now()
    job.updated_at = now()
    ledger.append(
        session,
        actor=actor,
        kind="job.resume_requested",
        workspace_id=job.workspace_id,
        payload={"job_id": job.id, "kind": job.kind, "checkpoint": job.resume_state is not None},
    )
    return job


def artifact(job: Job, name: str) -> Path:
    """A file the job wrote into its directory and named in its result's `artifacts`."""
    names = (job.result or {}).get("artifacts") or (job.resume_state or {}).get("artifacts") or []
    if name not in names or "/" in name or name.startswith("."):
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    path = job_dir(job.workspace_id, job.id) / name
    if not path.is_file():
        raise NotFound(f"job {job.id} has no artifact {name!r}")
    return path


def delete_job_dir(job: Job) -> None:
    shutil.rmtree(job_dir(job.workspace_id, job.id), ignore_errors=True)


def as_dict(job: Job, *, slug: str | None = None) -> dict[str, Any]:
    """The job as the API, the CLI's --json and the web page show it."""
    total = job.progress_total or 0
    return {
        "id": job.id,
        "workspace": slug or job.workspace.slug,
        "kind": job.kind,
        "state": job.state,
        "final": job.state in FINAL,
        "resumable": job.state in RESUMABLE,
        "params": job.params,
        "estimate": job.estimate,
        "progress": {
            "done": job.progress_done,
            "total": total,
            "fraction": (job.progress_done / total) if total else None,
            "message": job.progress_message,
        },
        "result": job.result,
        "error": job.error,
        "used": {
            "cpu_seconds": round(job.cpu_seconds, 3),
            "gpu_seconds": round(job.gpu_seconds, 3),
            "tokens": job.tokens,
        },
        "attempts": job.attempts,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "artifacts": list((job.result or {}).get("artifacts") or []),
    }
