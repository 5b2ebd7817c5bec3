"""finetune: LoRA fine-tuning of the embedded model on a workspace dataset, run as a job.

The fine-tune service does the work (pseudonymised rows, training, the GGUF adapter, the new
endpoint and its provenance in the ledger); the job adds the queue, the allocation (CPU- or
GPU-seconds charged as training goes, and the tokens trained on), a progress bar and cancel.

Training is checkpointed into the job's work directory (LoRA weights, optimiser state, step, loss
curve; at most every CHECKPOINT_EVERY_S seconds and when cancelled), and the checkpoint's summary is
the job's resume state: a job interrupted (runner killed, server stopped), cancelled or failed goes
on from its last checkpoint when resumed, so its loss curve continues, it never trains more than its
total steps, and its provenance says which steps it was resumed from. A half-trained adapter is
never registered; the checkpoint file is removed once the adapter is.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from sqlalchemy import select

from finsandbox.errors import InvalidRequest, NotFound
from finsandbox.finetune import (
    Checkpoints,
    FinetuneParams,
    parse_params,
    require_available,
    resolve_base,
    run_finetune,
)
from finsandbox.jobs.base import JobCancelled, JobContext, JobKind, job_kind
from finsandbox.store.models import Dataset, Job, LedgerEntry, Workspace

# Training throughput assumed for the estimate on a small CPU (bench/finetune.py measures it).
TOKENS_PER_CPU_SECOND = 40.0
MEAN_ROW_TOKENS = 150
CHECKPOINT_EVERY_S = 60.0  # a checkpoint of a rank-8 adapter is a few MB; a minute of training lost at most
CHECKPOINT_FILE = "checkpoint.pt"


@job_kind("finetune")
class Finetune(JobKind):
    title = "Fine-tune (LoRA)"
    fields: ClassVar[dict[str, dict[str, Any]]] = {
        "dataset": {
            "label": "Dataset",
            "type": "str",
            "required": True,
            "help": "id or name; prompt/completion",
        },
        "base": {"label": "Base endpoint", "type": "str", "required": False, "help": "default: smollm2"},
        "rank": {"label": "LoRA rank", "type": "int", "required": False, "default": 8},
        "learning_rate": {"label": "Learning rate", "type": "float", "required": False, "default": 2e-3},
        "epochs": {"label": "Epochs", "type": "int", "required": False, "default": 1},
        "max_steps": {"label": "Max steps", "type": "int", "required": False},
        "batch_size": {"label": "Batch size", "type": "int", "required": False, "default": 4},
        "max_seq_len": {"label": "Max sequence length", "type": "int", "required": False, "default": 256},
        "seed": {"label": "Seed", "type": "int", "required": False, "default": 0},
        "device": {"label": "Device", "type": "str", "required": False, "default": "cpu"},
    }

    def validate(self, params: dict[str, Any], *, session: Any, workspace_id: str) -> dict[str, Any]:
        require_available()
        hyper = {k: v for k, v in params.items() if k not in ("dataset", "base") and v not in (None, "")}
        parsed = parse_params(hyper)
        ref = str(params.get("dataset") or "").strip()
        if not ref:
            raise InvalidRequest("name the dataset to fine-tune on", param="dataset")
        found = session.get(Dataset, ref) if len(ref) <= 32 else None
        if found is None or found.workspace_id != workspace_id:
            found = session.scalars(
                select(Dataset).where(Dataset.workspace_id == workspace_id, Dataset.name == ref)
            ).first()
        if found is None:
            raise InvalidRequest(f"no dataset {ref!r} in this workspace", param="dataset")
        base = str(params.get("base") or "").strip() or None
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        try:  # checked now, so a pipeline hears of a wrong base at once rather than from a failed job
            resolve_base(session, workspace, base)
        except NotFound as exc:
            raise InvalidRequest(exc.message, param="base") from None
        return {"dataset": found.id, "base": base, "rows": found.row_count, **parsed.model_dump(mode="json")}

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        p = FinetuneParams.model_validate(
            {k: v for k, v in params.items() if k in FinetuneParams.model_fields}
        )
        rows = int(params.get("rows") or 0)
        steps = p.max_steps or p.epochs * max(1, -(-rows // p.batch_size))
        tokens = steps * p.batch_size * min(p.max_seq_len, MEAN_ROW_TOKENS)
        seconds = tokens / TOKENS_PER_CPU_SECOND
        key = "cpu_seconds" if p.device == "cpu" else "gpu_seconds"
        return {key: seconds, "tokens": float(tokens)}

    def run(self, ctx: JobContext) -> dict[str, Any]:
        p = ctx.params
        params = FinetuneParams.model_validate(
            {k: v for k, v in p.items() if k in FinetuneParams.model_fields}
        )
        with ctx.session() as s:
            ws = s.get(Workspace, ctx.workspace_id)
            assert ws is not None
            slug = ws.slug
        last = time.perf_counter()

        def on_step(step: int, total: int, loss: float) -> None:
            nonlocal last
            now = time.perf_counter()
            seconds, last = now - last, now
            if params.device == "cpu":
                ctx.charge(cpu_seconds=seconds)
            else:
                ctx.charge(gpu_seconds=seconds)
            ctx.progress(step, total, f"step {step}/{total}, loss {loss:.3f}")

        checkpoints = Checkpoints(
            path=ctx.work_dir / CHECKPOINT_FILE,
            on_save=ctx.checkpoint,
            resume=ctx.resume_state,
            every_seconds=CHECKPOINT_EVERY_S,
        )
        outcome = run_finetune(
            slug,
            p["dataset"],
            params,
            actor=f"job:{ctx.job_id}",
            base_endpoint=p.get("base"),
            on_step=on_step,
            should_stop=ctx.cancelled,
            checkpoints=checkpoints,
        )
        if outcome.cancelled:
            raise JobCancelled()
        checkpoints.path.unlink(missing_ok=True)  # the adapter is registered: nothing left to resume
        training = outcome.provenance["training"]
        ctx.charge(tokens=int(training["tokens"]))
        ctx.record(
            "finetune_registered",
            {
                "endpoint": outcome.endpoint,
                "adapter_sha256": outcome.adapter_sha256,
                "ledger_seq": outcome.seq,
            },
        )
        return {
            "endpoint": outcome.endpoint,
            "adapter_sha256": outcome.adapter_sha256,
            "ledger_seq": outcome.seq,
            "steps": training["steps"],
            "tokens": training["tokens"],
            "seconds": training["seconds"],
            "loss_first": training["loss_curve"][0] if training["loss_curve"] else None,
            "loss_last": training["loss_curve"][-1] if training["loss_curve"] else None,
            "resumed_from_steps": training["resumed_from_steps"],
        }


def describe_run(session: Any, job: Job) -> dict[str, Any]:
    """A fine-tune job as its caller follows it: the job's state and progress, the loss curve so far
    (from its last checkpoint while it runs, from its provenance once done) and, once registered,
    the endpoint and the ledger entry holding its provenance."""
    from finsandbox.jobs.service import as_dict

    out = as_dict(job)
    result = job.result or {}
    state = job.resume_state or {}
    curve: list[float] = list(state.get("loss_curve") or [])
    seq = result.get("ledger_seq")
    if seq is not None:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.seq == int(seq))).first()
        if (
            entry is not None
            and entry.kind == "finetune.completed"
            and entry.workspace_id == job.workspace_id
        ):
            curve = list(json.loads(entry.payload)["training"]["loss_curve"])
    params = job.params or {}
    return {
        **out,
        "dataset": params.get("dataset"),
        "base": params.get("base"),
        "hyperparameters": {k: v for k, v in params.items() if k in FinetuneParams.model_fields},
        "steps_done": len(curve),
        "total_steps": result.get("steps") or state.get("total_steps") or job.progress_total or None,
        "loss_curve": curve,
        "resumed_from_steps": list(result.get("resumed_from_steps") or state.get("resumed_from") or []),
        "endpoint": result.get("endpoint"),
        "ledger_seq": seq,
    }
