"""A workspace's own resources over the JSON API: keys, endpoints, the guard policy and datasets.

Routes find the workspace as the caller may see it (another bank's workspace does not exist for them),
authorise the action with the same rules as the web pages, then call the services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from finsandbox.access import create_key, list_keys, revoke_key
from finsandbox.access.authz import authorize
from finsandbox.access.keys import key_state
from finsandbox.api.deps import Reader, Writer
from finsandbox.errors import NotFound
from finsandbox.evals import datasets as ds
from finsandbox.programme.workspaces import (
    add_endpoint,
    get_workspace,
    list_endpoints,
    public_config,
    set_guard_policy,
)
from finsandbox.store.models import ApiKey, Dataset, Endpoint, Workspace

router = APIRouter(tags=["workspaces"])
MAX_LIMIT = 10**12


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyIn(_In):
    name: str = Field(min_length=1, max_length=100)
    rpm_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT, description="requests per minute")
    tpm_limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT, description="tokens per minute")
    token_budget: int | None = Field(default=None, ge=1, le=MAX_LIMIT, description="tokens in all")
    expires_at: datetime | None = None


class KeyOut(BaseModel):
    prefix: str
    name: str
    state: str = Field(description="active, expired, revoked or exhausted")
    rpm_limit: int | None
    tpm_limit: int | None
    token_budget: int | None
    tokens_used: int
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    secret: str = Field(description="the key itself: shown in this response only, never stored")


class EndpointIn(_In):
    name: str
    backend: str = Field(description="llamacpp (embedded) or openai (any OpenAI-compatible URL)")
    config: dict[str, Any] = Field(default_factory=dict, description="backend settings, e.g. base_url, model")
    customer_facing: bool = False


class EndpointOut(BaseModel):
    name: str
    backend: str
    config: dict[str, Any] = Field(description="settings without secrets")
    customer_facing: bool
    canary: bool


class PolicyIn(_In):
    text: str | None = Field(description="the guard policy YAML; null restores the programme default")


class PolicyOut(BaseModel):
    workspace: str
    default: bool
    text: str | None


class DatasetOut(BaseModel):
    id: str
    name: str
    filename: str
    format: str
    columns: list[str]
    row_count: int
    size_bytes: int
    sha256: str
    is_case_set: bool = Field(description="every row is an evaluation case (id, input, expected)")
    uploaded_by: str
    created_at: datetime


def workspace_as(caller: Reader | Writer, slug: str, action: str) -> Workspace:
    ws = get_workspace(caller.session, slug, user=caller.user)
    authorize(caller.user, action, ws)
    return ws


def _key(k: ApiKey) -> dict[str, Any]:
    return {
        "prefix": k.prefix,
        "name": k.name,
        "state": key_state(k),
        "rpm_limit": k.rpm_limit,
        "tpm_limit": k.tpm_limit,
        "token_budget": k.token_budget,
        "tokens_used": k.tokens_used,
        "created_by": k.created_by,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
    }


def _endpoint(e: Endpoint) -> dict[str, Any]:
    return {
        "name": e.name,
        "backend": e.backend,
        "config": public_config(e.config),
        "customer_facing": e.customer_facing,
        "canary": bool(e.canary),
    }


def _dataset(d: Dataset) -> dict[str, Any]:
    return {c: getattr(d, c) for c in DatasetOut.model_fields}


# --- keys ---------------------------------------------------------------------------------------


@router.get("/workspaces/{slug}/keys", response_model=list[KeyOut], summary="The workspace's keys")
def keys(slug: str, caller: Reader) -> list[dict[str, Any]]:
    ws = workspace_as(caller, slug, "key.manage")
    return [_key(k) for k in list_keys(caller.session, ws)]


@router.post(
    "/workspaces/{slug}/keys",
    response_model=NewKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a key (owners and developers); the secret is in this response only",
)
def new_key(slug: str, body: KeyIn, caller: Writer, response: Response) -> dict[str, Any]:
    ws = workspace_as(caller, slug, "key.manage")
    new = create_key(caller.session, ws, actor=caller.actor, **body.model_dump())
    response.headers["Cache-Control"] = "no-store"
    return {**_key(new.key), "secret": new.secret}


@router.post("/workspaces/{slug}/keys/{prefix}/revoke", response_model=KeyOut, summary="Revoke a key")
def revoke(slug: str, prefix: str, caller: Writer) -> dict[str, Any]:
    ws = workspace_as(caller, slug, "key.manage")
    key = next((k for k in list_keys(caller.session, ws) if k.prefix == prefix), None)
    if key is None:
        raise NotFound(f"workspace {ws.slug} has no key {prefix!r}")
    if key.revoked_at is None:
        revoke_key(caller.session, key, actor=caller.actor)
    return _key(key)


# --- endpoints ----------------------------------------------------------------------------------


@router.get("/workspaces/{slug}/endpoints", response_model=list[EndpointOut], summary="Endpoints")
def endpoints(slug: str, caller: Reader) -> list[dict[str, Any]]:
    ws = workspace_as(caller, slug, "workspace.view")
    return [_endpoint(e) for e in list_endpoints(caller.session, ws.id)]


@router.post(
    "/workspaces/{slug}/endpoints",
    response_model=EndpointOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add an endpoint (a model name bound to a backend)",
)
def new_endpoint(slug: str, body: EndpointIn, caller: Writer) -> dict[str, Any]:
    ws = workspace_as(caller, slug, "workspace.manage")
    ep = add_endpoint(
        caller.session,
        ws,
        name=body.name,
        backend=body.backend,
        config=body.config,
        actor=caller.actor,
        customer_facing=body.customer_facing,
    )
    return _endpoint(ep)


# --- guard policy -------------------------------------------------------------------------------


@router.get("/workspaces/{slug}/guard-policy", response_model=PolicyOut, summary="The guard policy")
def policy(slug: str, caller: Reader) -> dict[str, Any]:
    ws = workspace_as(caller, slug, "workspace.view")
    return {"workspace": ws.slug, "default": ws.guard_policy is None, "text": ws.guard_policy}


@router.put(
    "/workspaces/{slug}/guard-policy",
    response_model=PolicyOut,
    summary="Replace the guard policy (validated whole; refused with the problem if invalid)",
)
def put_policy(slug: str, body: PolicyIn, caller: Writer) -> dict[str, Any]:
    ws = workspace_as(caller, slug, "policy.edit")
    set_guard_policy(caller.session, ws, body.text, actor=caller.actor)
    return {"workspace": ws.slug, "default": ws.guard_policy is None, "text": ws.guard_policy}


# --- datasets -----------------------------------------------------------------------------------


@router.get("/workspaces/{slug}/datasets", response_model=list[DatasetOut], summary="Datasets")
def datasets(slug: str, caller: Reader) -> list[dict[str, Any]]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    return [_dataset(d) for d in ds.list_datasets(caller.session, caller.user, ws)]


@router.post(
    "/workspaces/{slug}/datasets",
    response_model=DatasetOut,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a CSV or JSONL dataset (multipart: file, optional name)",
)
async def upload(
    slug: str, caller: Writer, file: UploadFile = File(), name: str = Form(default="")
) -> dict[str, Any]:
    data = await file.read()
    ws = get_workspace(caller.session, slug, user=caller.user)
    d = ds.upload_dataset(caller.session, caller.user, ws, name=name, filename=file.filename or "", data=data)
    return _dataset(d)


@router.get("/workspaces/{slug}/datasets/{dataset_id}", response_model=DatasetOut, summary="One dataset")
def dataset(slug: str, dataset_id: str, caller: Reader) -> dict[str, Any]:
    ws = get_workspace(caller.session, slug, user=caller.user)
    return _dataset(ds.get_dataset(caller.session, caller.user, ws, dataset_id))


@router.delete(
    "/workspaces/{slug}/datasets/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete"
)
def delete(slug: str, dataset_id: str, caller: Writer) -> Response:
    ws = get_workspace(caller.session, slug, user=caller.user)
    ds.delete_dataset(caller.session, caller.user, ws, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
