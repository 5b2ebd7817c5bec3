"""batch_trial: a trial of a reference suite on one of the workspace's endpoints, run as a job.

The trial machinery does the work (create_trial, run_trial: its own key, every call through the
gateway, each case stored as it finishes); the job adds the queue, the allocation and a progress
bar. Cancelling or stopping the job interrupts the trial (resumable), so resuming the job resumes
the same trial without calling the model again for a finished case. Tokens are charged from the
trial's metered usage, as the gateway recorded it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import anyio
from sqlalchemy import func, select

from finsandbox.access.roles import THEMES
from finsandbox.errors import FinsandboxError, InvalidRequest
from finsandbox.evals.executors import get_executor
from finsandbox.evals.plan import load, plan
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.evals.trials import create_trial, get_trial, run_trial
from finsandbox.gateway.endpoints import get_endpoint
from finsandbox.jobs.base import (
    AllocationExceeded,
    JobCancelled,
    JobContext,
    JobKind,
    int_param,
    job_kind,
    trial_followers,
)
from finsandbox.store.models import UsageRecord, Workspace

log = logging.getLogger("finsandbox.jobs")
POLL_S = 1.0
PROMPT_TOKENS_PER_CASE = 200  # a rough prompt size for the estimate; the charge is what was metered


@job_kind("batch_trial")
class BatchTrial(JobKind):
    title = "Batch trial"
    fields: ClassVar[dict[str, dict[str, Any]]] = {
        "endpoint": {"label": "Endpoint", "type": "str", "required": True, "help": "the endpoint under test"},
        "suite": {"label": "Suite", "type": "str", "required": True, "help": f"a theme: {', '.join(THEMES)}"},
        "max_cases": {"label": "Max cases per recipe", "type": "int", "required": False},
        "max_variants": {"label": "Max attack variants per case", "type": "int", "required": False},
        "max_tokens": {"label": "Max tokens per call", "type": "int", "required": False, "default": 256},
        "seed": {"label": "Seed", "type": "int", "required": False, "default": 0},
        "executor": {"label": "Executor", "type": "str", "required": False, "default": "local"},
    }

    def validate(self, params: dict[str, Any], *, session: Any, workspace_id: str) -> dict[str, Any]:
        self.reject_unknown(params, also=("concurrency", "name"))
        endpoint = str(params.get("endpoint") or "").strip()
        if not endpoint:
            raise InvalidRequest("name the endpoint to test", param="endpoint")
        get_endpoint(session, workspace_id, endpoint)
        suite = str(params.get("suite") or "").strip()
        if suite not in THEMES:
            raise InvalidRequest(f"unknown suite {suite!r}; use a theme ({', '.join(THEMES)})", param="suite")
        out: dict[str, Any] = {
            "endpoint": endpoint,
            "suite": suite,
            "max_cases": int_param(params, "max_cases", None, 1, 100_000),
            "max_variants": int_param(params, "max_variants", None, 0, 1000),
            "max_tokens": int_param(params, "max_tokens", 256, 1, 8192),
            "seed": int_param(params, "seed", 0, 0, 2**31 - 1),
            "concurrency": int_param(params, "concurrency", 4, 1, 64),
            "executor": str(params.get("executor") or "local"),
            "name": str(params["name"])[:200] if params.get("name") else None,
        }
        try:
            get_executor(out["executor"], out["concurrency"])
        except FinsandboxError as exc:
            raise InvalidRequest(exc.message, param="executor") from None
        try:
            items = plan(
                [load(suite)],
                recipes=None,
                max_cases=out["max_cases"],
                seed=out["seed"],
                max_variants=out["max_variants"],
            )
        except FinsandboxError as exc:
            raise InvalidRequest(exc.message, param="suite") from None
        if not items:
            raise InvalidRequest("the suite holds no cases", param="suite")
        out["cases"] = len(items)
        return out

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        cases = int(params.get("cases") or 0)
        return {"tokens": float(cases * (PROMPT_TOKENS_PER_CASE + int(params.get("max_tokens") or 256)))}

    def run(self, ctx: JobContext) -> dict[str, Any]:
        p = ctx.params
        trial_id = (ctx.resume_state or {}).get("trial_id")
        if trial_id is None:
            with ctx.session() as s:
                ws = s.get(Workspace, ctx.workspace_id)
                assert ws is not None
                config = TrialConfig(
                    workspace=ws.slug,
                    endpoint=p["endpoint"],
                    suites=[p["suite"]],
                    name=p.get("name") or f"job {ctx.job_id[:8]}: {p['suite']} on {p['endpoint']}",
                    max_cases=p.get("max_cases"),
                    max_variants=p.get("max_variants"),
                    max_tokens=p.get("max_tokens") or 256,
                    seed=p.get("seed") or 0,
                    concurrency=p.get("concurrency") or 4,
                    executor=p.get("executor") or "local",
                )
                trial_id = create_trial(s, config, actor=f"job:{ctx.job_id}").id
            ctx.checkpoint({"trial_id": trial_id, "charged_tokens": 0})
            ctx.record("trial_created", {"trial_id": trial_id})
        charged = int((ctx.resume_state or {}).get("charged_tokens") or 0)
        stopped: list[BaseException] = []

        def metered() -> int:
            with ctx.session() as s:
                used = s.scalar(
                    select(
                        func.coalesce(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens), 0)
                    ).where(UsageRecord.trial_id == trial_id)
                )
            return int(used or 0)

        def settle() -> None:
            """Charge what the gateway metered since the last charge; remembered across resumes."""
            nonlocal charged
            used = metered()
            if used > charged:
                delta, charged = used - charged, used
                ctx.checkpoint({"trial_id": trial_id, "charged_tokens": charged})
                ctx.charge(tokens=delta)

        def on_progress(done: int, total: int, _result: object) -> None:
            ctx.progress(done, total, f"{done}/{total} cases")

        async def go() -> None:
            task = asyncio.create_task(
                run_trial(trial_id, actor=f"job:{ctx.job_id}", on_progress=on_progress)
            )
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_S)
                if task.done():
                    break
                try:
                    await anyio.to_thread.run_sync(settle)
                    if await anyio.to_thread.run_sync(ctx.cancelled):
                        stopped.append(JobCancelled())
                except AllocationExceeded as exc:
                    stopped.append(exc)
                if stopped:
                    task.cancel()  # the trial becomes "interrupted": resumable, nothing finished is lost
                    break
            try:
                await task
            except asyncio.CancelledError:
                if not stopped:
                    raise

        asyncio.run(go())
        if stopped:
            raise stopped[0]
        settle()
        with ctx.session() as s:
            trial = get_trial(s, trial_id)
            if trial.status != "completed":
                raise InvalidRequest(f"trial {trial.id} {trial.status}: {trial.error or 'no reason given'}")
            summary = trial.summary or {}
            result = {
                "trial_id": trial.id,
                "cases": trial.done_cases,
                "themes": summary.get("themes", {}),
                "tokens": charged,
            }
        # What follows a completed trial (its scorecard); the trial stands if that fails.
        for follower in trial_followers():
            try:
                result.update(follower(trial_id) or {})
            except Exception as exc:
                log.exception("what follows trial %s failed", trial_id)
                result.setdefault("follow_errors", []).append(f"{type(exc).__name__}: {exc}"[:300])
        return result
