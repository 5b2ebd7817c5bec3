"""Fine-tune the embedded model on a workspace dataset and serve the result as a new endpoint.

Three phases, so no database transaction is held open while the model trains for minutes:

1. read: the workspace, the dataset, the guard policy and the base endpoint; the rows are
   pseudonymised by the workspace's input PII guards (data.py) and the run is recorded in the
   ledger (`finetune.started`: digests and hyper-parameters);
2. train (trainer.py) and write the adapter as GGUF (gguf_adapter.py) into the workspace's data
   directory (owner-only: 0700 folders, 0600 files);
3. register the adapter as a new endpoint of the workspace, `<base>-ft-<n>`, served by llama.cpp
   with the adapter, and record its provenance (`finetune.completed`): the base model's and the
   adapter's SHA-256, the dataset's and the pseudonymised training set's digests, the policy, the
   hyper-parameters, the loss curve, tokens, seconds and device. A failure or a cancellation is
   recorded too (`finetune.failed`, `finetune.cancelled`) and registers nothing.

Given `Checkpoints` (a job passes its work directory), training saves its state as it goes and a
later run of the same fine-tune goes on from the last checkpoint: phase 1 then records
`finetune.resumed` with the step, and the provenance lists the steps it was resumed from. A
checkpoint is continued only when its file is intact and it was made from the same base model,
training rows and parameters (its fingerprint); otherwise training starts again and says why.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.config import get_settings, private_dir
from finsandbox.errors import InvalidRequest, NotFound
from finsandbox.finetune.checkpoints import Checkpoints, write_private
from finsandbox.finetune.data import PreparedSet, as_served, pseudonymise, rows_from_dataset
from finsandbox.finetune.gguf_adapter import file_sha256
from finsandbox.finetune.params import FinetuneParams
from finsandbox.store.models import Dataset, Endpoint, LedgerEntry, User, Workspace

DEFAULT_BASE = "smollm2"
SessionFactory = Callable[..., AbstractContextManager[Session]]
StepFn = Callable[[int, int, float], None]


def unavailable() -> str | None:
    """Why fine-tuning cannot run in this installation (None when it can)."""
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        return (
            f"fine-tuning needs the optional 'finetune' extra ({', '.join(missing)} missing): "
            "pip install 'finsandbox[finetune]' with a CPU build of PyTorch (see docs/finetuning.md)"
        )
    return None


def require_available() -> None:
    reason = unavailable()
    if reason is not None:
        raise InvalidRequest(reason, param="finetune", code="finetune_unavailable")


@dataclass
class Plan:
    """Everything read in phase 1, detached from the session."""

    workspace_id: str
    workspace_slug: str
    dataset: dict[str, Any]
    base_endpoint: str | None
    base_config: dict[str, Any]
    model_path: Path
    base_sha256: str
    prepared: PreparedSet
    params: FinetuneParams
    actor: str
    fingerprint: str = ""
    resume: dict[str, Any] | None = None  # the checkpoint training goes on from, when usable
    checkpoint_discarded: str | None = None  # why a checkpoint offered was not continued


def fingerprint(base_sha256: str, prepared: PreparedSet, params: FinetuneParams) -> str:
    """What a training run depends on, as one digest: a checkpoint made from other inputs is not resumed."""
    return ledger.sha256_hex(
        ledger.canonical(
            {
                "base_model": base_sha256,
                "training_set": prepared.digest,
                "params": params.model_dump(mode="json"),
            }
        )
    )


def _unusable(checkpoints: Checkpoints, fingerprint: str) -> str | None:
    """Why the checkpoint offered cannot be continued, or None when it can."""
    state = checkpoints.resume or {}
    if state.get("fingerprint") != fingerprint:
        return (
            "the base model, the training rows (the dataset or its pseudonymisation) or the parameters "
            "changed since it was made"
        )
    if not checkpoints.path.is_file() or file_sha256(checkpoints.path) != state.get("sha256"):
        return "the checkpoint file is missing or does not match its digest"
    step, total, curve = state.get("step"), state.get("total_steps"), state.get("loss_curve")
    if not isinstance(step, int) or not isinstance(total, int) or not isinstance(curve, list):
        return "the checkpoint's summary is incomplete"
    if not 0 < step < total or len(curve) != step:
        return "the checkpoint's step is out of range"
    return None


@dataclass
class Outcome:
    endpoint: str | None
    adapter_path: Path | None
    adapter_sha256: str | None
    seq: int
    provenance: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False


def _session_scope(write: bool = False) -> AbstractContextManager[Session]:
    from finsandbox.store import session_scope

    return session_scope(write=write)


def _dataset(session: Session, workspace: Workspace, ref: str) -> Dataset:
    found = session.get(Dataset, ref) if len(ref) <= 32 else None
    if found is None or found.workspace_id != workspace.id:
        found = session.scalars(
            select(Dataset).where(Dataset.workspace_id == workspace.id, Dataset.name == ref)
        ).first()
    if found is None:
        raise NotFound(f"workspace {workspace.slug} has no dataset {ref!r} (by id or name)", param="dataset")
    return found


def resolve_base(session: Session, workspace: Workspace, name: str | None) -> Endpoint | None:
    """The endpoint to start from: the named one, else `smollm2`, else the only embedded one."""
    endpoints = list(
        session.scalars(
            select(Endpoint).where(Endpoint.workspace_id == workspace.id, Endpoint.enabled.is_(True))
        )
    )
    if name is not None:
        ep = next((e for e in endpoints if e.name == name), None)
        if ep is None:
            raise NotFound(f"workspace {workspace.slug} has no endpoint {name!r}", param="base")
    else:
        embedded = [e for e in endpoints if e.backend == "llamacpp" and not (e.config or {}).get("lora_path")]
        ep = next(
            (e for e in embedded if e.name == DEFAULT_BASE), embedded[0] if len(embedded) == 1 else None
        )
        if ep is None and embedded:
            raise InvalidRequest(
                f"workspace {workspace.slug} has several embedded endpoints; name the base with --base "
                f"({', '.join(e.name for e in embedded)})",
                param="base",
            )
    if ep is not None:
        if ep.backend != "llamacpp":
            raise InvalidRequest(
                f"endpoint {ep.name!r} is served by {ep.backend}; only the embedded model (llamacpp) can be "
                "fine-tuned here",
                param="base",
            )
        if (ep.config or {}).get("lora_path"):
            raise InvalidRequest(
                f"endpoint {ep.name!r} is already a fine-tune; fine-tune its base endpoint instead",
                param="base",
            )
    return ep


def prepare(
    session: Session,
    workspace_slug: str,
    dataset: str,
    params: FinetuneParams,
    *,
    actor: str,
    user: User | None = None,
    base_endpoint: str | None = None,
    checkpoints: Checkpoints | None = None,
) -> Plan:
    """Phase 1: check everything, pseudonymise the rows and record the start in the ledger (or the
    resume, when `checkpoints.resume` is a checkpoint this run may continue).

    Call inside `session_scope(write=True)`."""
    from finsandbox.access.closure import ensure_open
    from finsandbox.finetune.gguf_adapter import read_metadata
    from finsandbox.gateway.backends.llamacpp import resolve_model_path
    from finsandbox.guards import default_policy, parse_policy
    from finsandbox.programme import get_workspace

    require_available()
    workspace = get_workspace(session, workspace_slug, user=user)
    if user is not None:
        authorize(user, "finetune.run", workspace)
    ensure_open(workspace, "take new endpoints")
    ds = _dataset(session, workspace, dataset)
    rows = rows_from_dataset(ds.rows, ds.columns)
    base = resolve_base(session, workspace, base_endpoint)
    base_config = dict(base.config or {}) if base is not None else {}
    model_path = resolve_model_path(base_config)
    if not model_path.is_file():
        raise InvalidRequest(f"the base model file {model_path.name} was not found", param="base")
    meta = read_metadata(model_path)
    if meta["architecture"] != "llama" or meta["type"] != "model":
        raise InvalidRequest(
            f"fine-tuning supports llama-architecture GGUF models; {model_path.name} is "
            f"{meta['architecture']} ({meta['type']})",
            param="base",
        )
    policy = (
        parse_policy(workspace.guard_policy, f"guard policy of {workspace.slug}")
        if workspace.guard_policy
        else default_policy()
    )
    prepared = as_served(pseudonymise(rows, policy, workspace.guard_policy), params.seed)
    base_sha256 = file_sha256(model_path)
    digest = fingerprint(base_sha256, prepared, params)
    resume, discarded = None, None
    if checkpoints is not None and checkpoints.resume is not None:
        discarded = _unusable(checkpoints, digest)
        resume = checkpoints.resume if discarded is None else None
    plan = Plan(
        workspace_id=workspace.id,
        workspace_slug=workspace.slug,
        dataset={"id": ds.id, "name": ds.name, "sha256": ds.sha256, "rows": ds.row_count},
        base_endpoint=base.name if base is not None else None,
        base_config={k: v for k, v in base_config.items() if k not in ("lora_path", "lora_scale")},
        model_path=model_path,
        base_sha256=base_sha256,
        prepared=prepared,
        params=params,
        actor=actor,
        fingerprint=digest,
        resume=resume,
        checkpoint_discarded=discarded,
    )
    payload: dict[str, Any] = {
        "base_endpoint": plan.base_endpoint,
        "base_model": {"file": model_path.name, "sha256": plan.base_sha256},
        "dataset": plan.dataset,
        "pseudonymisation": prepared.provenance(),
        "params": params.model_dump(mode="json"),
    }
    if resume is not None:
        payload["resumed_from"] = {"step": resume["step"], "checkpoint_sha256": resume["sha256"]}
    if discarded is not None:
        payload["checkpoint_discarded"] = discarded
    ledger.append(
        session,
        actor=actor,
        kind="finetune.resumed" if resume is not None else "finetune.started",
        workspace_id=workspace.id,
        payload=payload,
    )
    return plan


def adapters_dir(workspace_id: str) -> Path:
    """Where a workspace's adapters live: inside the data directory, owner-only."""
    home = get_settings().ensure_home()
    return private_dir(home / "workspaces" / workspace_id / "adapters")


def _next_name(session: Session, workspace_id: str, prefix: str) -> str:
    pattern = re.compile(rf"^{re.escape(prefix)}-ft-(\d+)$")
    taken = [
        int(m.group(1))
        for name in session.scalars(select(Endpoint.name).where(Endpoint.workspace_id == workspace_id))
        if (m := pattern.match(name))
    ]
    return f"{prefix}-ft-{max(taken, default=0) + 1}"


def run_finetune(
    workspace_slug: str,
    dataset: str,
    params: FinetuneParams,
    *,
    actor: str,
    user_email: str | None = None,
    base_endpoint: str | None = None,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    session_scope: SessionFactory | None = None,
    loaded: tuple[Any, Any] | None = None,
    checkpoints: Checkpoints | None = None,
) -> Outcome:
    """Fine-tune, store the adapter, register the endpoint; every phase recorded in the ledger.

    `session_scope(write=...)` opens the sessions (a job passes its own); `loaded` reuses a base
    model already in memory (tests and the bench); `checkpoints` saves training state as it goes
    and, with `resume` set, goes on from it (see the module's docstring)."""
    from finsandbox.access import get_user
    from finsandbox.finetune import trainer
    from finsandbox.finetune.gguf_adapter import read_metadata, write_adapter

    scope = session_scope or _session_scope
    with scope(write=True) as s:
        user = get_user(s, user_email) if user_email else None
        plan = prepare(
            s,
            workspace_slug,
            dataset,
            params,
            actor=actor,
            user=user,
            base_endpoint=base_endpoint,
            checkpoints=checkpoints,
        )
    if checkpoints is not None:
        checkpoints = replace(checkpoints, resume=plan.resume, fingerprint=plan.fingerprint)
    started = time.perf_counter()
    try:
        result = trainer.train(
            plan.model_path,
            plan.prepared.rows,
            params,
            on_step=on_step,
            should_stop=should_stop,
            loaded=loaded,
            checkpoints=checkpoints,
        )
    except Exception as exc:
        _record_end(scope, plan, "finetune.failed", {"error": _reason(exc)})
        raise
    training = {
        "steps": result.steps,
        "total_steps": result.total_steps,
        "rows_used": result.rows_used,
        "rows_skipped_too_long": result.rows_skipped,
        "tokens": result.tokens,
        "completion_tokens": result.completion_tokens,
        "seconds": round(result.seconds, 2),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "device": result.device,
        "loss_curve": result.loss_curve,
        "versions": result.versions,
        "resumed_from_steps": result.resumed_from,
    }
    if plan.checkpoint_discarded is not None:
        training["checkpoint_discarded"] = plan.checkpoint_discarded
    if result.cancelled:
        seq = _record_end(scope, plan, "finetune.cancelled", {"training": training})
        return Outcome(None, None, None, seq, {"training": training}, cancelled=True)

    meta = read_metadata(plan.model_path)
    with scope(write=True) as s:
        prefix = plan.base_endpoint or DEFAULT_BASE
        name = _next_name(s, plan.workspace_id, prefix)
        path = adapters_dir(plan.workspace_id) / f"{name}.gguf"

        def write(target: Path) -> None:
            write_adapter(
                target,
                result.pairs,
                alpha=params.alpha,
                n_head=meta["n_head"],
                n_head_kv=meta["n_head_kv"],
                name=f"{plan.workspace_slug}/{name}",
            )

        write_private(path, write)
        digest = file_sha256(path)
        provenance = {
            "endpoint": name,
            "base_endpoint": plan.base_endpoint,
            "base_model": {"file": plan.model_path.name, "sha256": plan.base_sha256},
            "adapter": {
                "file": path.name,
                "sha256": digest,
                "bytes": path.stat().st_size,
                "format": "gguf lora",
                "scale": params.lora_scale,
            },
            "dataset": plan.dataset,
            "pseudonymisation": plan.prepared.provenance(),
            "params": params.model_dump(mode="json"),
            "training": training,
            "wall_seconds": round(time.perf_counter() - started, 2),
        }
        try:
            _register(s, plan, name, path, params)
        except Exception:
            path.unlink(missing_ok=True)
            raise
        entry = ledger.append(
            s, actor=plan.actor, kind="finetune.completed", workspace_id=plan.workspace_id, payload=provenance
        )
        seq = entry.seq
    return Outcome(name, path, digest, seq, provenance)


def _register(s: Session, plan: Plan, name: str, path: Path, params: FinetuneParams) -> Endpoint:
    from finsandbox.programme import add_endpoint, get_workspace

    workspace = get_workspace(s, plan.workspace_slug)
    config = {**plan.base_config, "lora_path": str(path), "lora_scale": params.lora_scale}
    return add_endpoint(s, workspace, name=name, backend="llamacpp", config=config, actor=plan.actor)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0][:300]


def _record_end(scope: SessionFactory, plan: Plan, kind: str, payload: dict[str, Any]) -> int:
    with scope(write=True) as s:
        entry = ledger.append(
            s,
            actor=plan.actor,
            kind=kind,
            workspace_id=plan.workspace_id,
            payload={"dataset": plan.dataset, "base_model": {"sha256": plan.base_sha256}, **payload},
        )
        return entry.seq


def _entries(session: Session, workspace_id: str) -> Iterator[tuple[LedgerEntry, dict[str, Any]]]:
    rows = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "finetune.completed")
        .order_by(LedgerEntry.seq)
    )
    for entry in rows:
        yield entry, json.loads(entry.payload)


def list_finetunes(
    session: Session, workspace_slug: str, *, user: User | None = None
) -> list[dict[str, Any]]:
    """The workspace's fine-tuned endpoints with their provenance, oldest first, from the ledger."""
    from finsandbox.programme import get_workspace

    workspace = get_workspace(session, workspace_slug, user=user)
    out = []
    for entry, payload in _entries(session, workspace.id):
        out.append({"seq": entry.seq, "ts": entry.ts, "actor": entry.actor, **payload})
    return out


def get_finetune(
    session: Session, workspace_slug: str, endpoint: str, *, user: User | None = None
) -> dict[str, Any]:
    """One fine-tune's provenance by its endpoint's name."""
    for item in list_finetunes(session, workspace_slug, user=user):
        if item["endpoint"] == endpoint:
            return item
    raise NotFound(f"endpoint {endpoint!r} of {workspace_slug} is not a fine-tune", param="endpoint")


__all__ = [
    "Outcome",
    "Plan",
    "adapters_dir",
    "fingerprint",
    "get_finetune",
    "list_finetunes",
    "prepare",
    "require_available",
    "resolve_base",
    "run_finetune",
    "unavailable",
]
