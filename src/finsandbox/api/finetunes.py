"""Fine-tunes over the JSON API, for a bank's CI pipeline: start one on a workspace dataset, follow its
run, then read what it registered: the endpoint, its provenance and its loss chart.

A run is a `finetune` job on the shared compute pool (queued, charged to the allocation, cancelled and
resumed under /jobs); `/finetune-runs/{id}` shows it with what a fine-tune adds: the loss curve so far
(as of its last checkpoint), the steps it was resumed from and, once done, the endpoint it registered.
A registered fine-tune is named by its endpoint, as `finsandbox finetune list|chart` name it, and its
provenance is read from its `finetune.completed` ledger entry.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from finsandbox.access.authz import authorize
from finsandbox.api.deps import Reader, Writer
from finsandbox.api.jobs import JobOut
from finsandbox.errors import NotFound
from finsandbox.finetune import FinetuneParams, get_finetune, list_finetunes
from finsandbox.jobs import service as jobs
from finsandbox.jobs.kinds.finetune import describe_run
from finsandbox.programme.workspaces import get_workspace, list_endpoints
from finsandbox.store.models import Job

router = APIRouter(tags=["finetunes"])
KIND = "finetune"
EndpointName = Path(min_length=1, max_length=100, description="the fine-tuned endpoint, e.g. smollm2-ft-1")


class FinetuneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        min_length=1,
        max_length=200,
        description="a dataset of the workspace, by id or name, with prompt and completion columns",
    )
    base: str | None = Field(
        default=None, min_length=1, max_length=100, description="the embedded endpoint to start from"
    )
    params: FinetuneParams = Field(
        default_factory=FinetuneParams, description="LoRA hyper-parameters; each has a default"
    )


class FinetuneRunOut(JobOut):
    dataset: str | None = Field(description="the dataset's id")
    base: str | None
    hyperparameters: dict[str, Any]
    steps_done: int = Field(description="optimiser steps with a loss recorded (as of the last checkpoint)")
    total_steps: int | None
    loss_curve: list[float] = Field(description="loss per step so far; the whole curve once succeeded")
    resumed_from_steps: list[int] = Field(description="the step each resume went on from")
    endpoint: str | None = Field(description="the endpoint registered, once succeeded")
    ledger_seq: int | None = Field(description="the finetune.completed ledger entry, once succeeded")


class FileRef(BaseModel):
    file: str
    sha256: str


class AdapterRef(FileRef):
    bytes: int
    format: str
    scale: float


class DatasetRef(BaseModel):
    id: str
    name: str
    sha256: str
    rows: int


class Training(BaseModel):
    steps: int
    total_steps: int
    rows_used: int
    rows_skipped_too_long: int
    tokens: int
    completion_tokens: int
    seconds: float = Field(description="training time, every run of a resumed fine-tune together")
    tokens_per_second: float
    device: str
    loss_curve: list[float]
    versions: dict[str, str]
    resumed_from_steps: list[int] = Field(default_factory=list)
    checkpoint_discarded: str | None = Field(
        default=None, description="why a checkpoint was not continued (training started again)"
    )


class FinetuneOut(BaseModel):
    endpoint: str = Field(description="the model name to call on /v1/chat/completions")
    served: bool = Field(description="the endpoint still exists and is enabled")
    base_endpoint: str | None
    base_model: FileRef
    adapter: AdapterRef
    dataset: DatasetRef
    pseudonymisation: dict[str, Any]
    params: dict[str, Any]
    training: Training
    ledger_seq: int
    recorded_at: str
    recorded_by: str
    job_id: str | None = Field(description="the job that ran it, when it ran as one")


def _out(item: dict[str, Any], served: set[str]) -> dict[str, Any]:
    actor = str(item.get("actor") or "")
    return {
        **item,
        "served": item["endpoint"] in served,
        "ledger_seq": item["seq"],
        "recorded_at": item["ts"],
        "recorded_by": actor,
        "job_id": actor.removeprefix("job:") if actor.startswith("job:") else None,
    }


def _served(caller: Reader, slug: str) -> set[str]:
    ws = get_workspace(caller.session, slug)
    return {e.name for e in list_endpoints(caller.session, ws.id) if e.enabled}


def _run(caller: Reader | Writer, job_id: str) -> Job:
    try:
        job = jobs.get_job(caller.session, job_id)
    except NotFound:
        job = None
    if job is None or job.kind != KIND:
        raise NotFound(f"no fine-tune run {job_id!r}")
    authorize(caller.user, "job.view", job, subject=f"fine-tune run {job_id!r}")
    return job


@router.post(
    "/workspaces/{slug}/finetunes",
    response_model=FinetuneRunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a fine-tune (owners and developers): a finetune job; 409 when the allocation cannot pay",
)
def start(slug: str, body: FinetuneIn, caller: Writer) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "finetune.run", ws)
    params = {"dataset": body.dataset, "base": body.base, **body.params.model_dump(mode="json")}
    job = jobs.submit(caller.session, ws, KIND, params, actor=caller.actor)
    return describe_run(caller.session, job)


@router.get(
    "/workspaces/{slug}/finetune-runs",
    response_model=list[FinetuneRunOut],
    summary="A workspace's fine-tune runs, newest first",
)
def runs(
    slug: str, caller: Reader, state: str | None = Query(default=None, max_length=20)
) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug)
    authorize(caller.user, "job.view", ws)
    found = jobs.list_jobs(caller.session, workspace_ids=[ws.id], state=state, kind=KIND)
    return [describe_run(caller.session, j) for j in found]


@router.get(
    "/finetune-runs/{job_id}",
    response_model=FinetuneRunOut,
    summary="A fine-tune run: state, progress, loss curve so far, and its endpoint once registered",
)
def run(job_id: str = Path(max_length=64), *, caller: Reader) -> dict[str, Any]:
    return describe_run(caller.session, _run(caller, job_id))


@router.get(
    "/workspaces/{slug}/finetunes",
    response_model=list[FinetuneOut],
    summary="A workspace's registered fine-tunes with their provenance, oldest first",
)
def registered(slug: str, caller: Reader) -> list[dict[str, Any]]:
    items = list_finetunes(caller.session, slug, user=caller.user)
    served = _served(caller, slug)
    return [_out(i, served) for i in items]


@router.get(
    "/workspaces/{slug}/finetunes/{endpoint}",
    response_model=FinetuneOut,
    summary="One fine-tune's provenance: base model and dataset digests, hyper-parameters, loss curve",
)
def provenance(slug: str, caller: Reader, endpoint: str = EndpointName) -> dict[str, Any]:
    item = get_finetune(caller.session, slug, endpoint, user=caller.user)
    return _out(item, _served(caller, slug))


@router.get(
    "/workspaces/{slug}/finetunes/{endpoint}/chart",
    response_class=Response,
    summary="The fine-tune's training loss per step, as an SVG chart",
    responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
)
def chart(slug: str, caller: Reader, endpoint: str = EndpointName) -> Response:
    from finsandbox.reports.charts import loss_chart

    item = get_finetune(caller.session, slug, endpoint, user=caller.user)
    svg = loss_chart(item["training"]["loss_curve"], f"{item['endpoint']}: training loss")
    return Response(svg, media_type="image/svg+xml")
