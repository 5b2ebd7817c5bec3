"""Running and scoring single cases: the part of a trial that executors fan out.

A Worker is built from a picklable RunSpec, so the same code runs in the trial's own process
(local executor) or in a Ray worker on another machine (ray executor).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from sqlalchemy import select

from finsandbox import registry
from finsandbox.errors import ConfigError, FinsandboxError
from finsandbox.evals.client import GatewayClient, make_http_client
from finsandbox.evals.loader import BoundRecipe, bind_recipe
from finsandbox.evals.model import Case, Recipe
from finsandbox.evals.plan import LoadedSuite, WorkItem, load
from finsandbox.evals.scorers.base import Evidence
from finsandbox.evals.targets import RunSettings, Target, TargetOutput
from finsandbox.evals.views import ModelView, annotate, model_view, redaction_controls, stored


@dataclass
class RunSpec:
    """Everything a worker needs, and nothing that cannot cross a process boundary."""

    trial_id: str
    workspace: str
    endpoint: str
    secret: str
    suites: list[str]
    recipes: list[str] | None = None
    max_cases: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    gateway_url: str | None = None
    external_url: str | None = None
    target: str = "endpoint"
    judge_endpoint: str | None = None
    database_url: str | None = None

    @property
    def settings(self) -> RunSettings:
        return RunSettings(max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed)


@dataclass
class ItemResult:
    key: str
    suite: str
    recipe: str
    case_id: str
    attack: str | None
    case: dict[str, Any]
    output: str
    evidence: dict[str, Any]
    scores: list[dict[str, Any]]
    passed: bool | None
    error: str | None
    latency_ms: float


class GatewayJudge:
    """An LLM judge reached through the gateway; its identity is recorded with every score."""

    def __init__(self, client: GatewayClient, endpoint: str, workspace: str) -> None:
        self.client = client
        self.endpoint = endpoint
        self.identity = f"{workspace}/{endpoint} via finsandbox gateway"

    async def __call__(self, messages: list[dict[str, str]]) -> str:
        outcome = await self.client.chat(
            messages, endpoint=self.endpoint, temperature=0.0, seed=0, max_tokens=256
        )
        if outcome.status != 200:
            raise FinsandboxError(f"the judge endpoint {self.endpoint!r} failed: {outcome.error}")
        return outcome.text


def build_scorers(suites: list[LoadedSuite], judge: Any | None) -> dict[tuple[str, str], BoundRecipe]:
    """Every recipe bound to its scorers before any model call, so a bad recipe fails the trial at once."""
    built: dict[tuple[str, str], BoundRecipe] = {}
    for loaded in suites:
        for recipe in loaded.suite.recipes:
            try:
                built[(loaded.suite.name, recipe.name)] = bind_recipe(recipe, judge=judge)
            except ConfigError as exc:
                if "judge" in exc.message:
                    raise ConfigError(
                        f"{exc.message} (name the trial's judge endpoint); "
                        "finsandbox never falls back to another judge"
                    ) from None
                raise
    return built


async def _one(scorer: Any, case: Case, output: str, evidence: Evidence) -> dict[str, Any]:
    try:
        score = await scorer.ascore(case, output, evidence)
    except FinsandboxError as exc:
        return {"value": 0.0, "passed": False, "explanation": exc.message, "error": True}
    return {
        "value": score.value,
        "passed": score.passed,
        "explanation": score.explanation,
        "details": score.details,
    }


async def _model_verdict(bs: Any, case: Case, model: ModelView) -> dict[str, Any]:
    """One check's verdict in the model view, or why it has none."""
    if "model" not in bs.scorer.views:
        return {"skipped": "a test of the guards: no model view"}
    if model.source == "not_reached":
        return {"skipped": "blocked at input: the model never saw the case"}
    if model.text is not None:
        return await _one(bs.scorer, case, model.text, model.evidence)
    rebuilt = bs.scorer.reconstruct(case, model.evidence)
    if rebuilt is None:
        return {"skipped": "the output guards changed the answer and the model's own text is not available"}
    return {
        "value": rebuilt.value,
        "passed": rebuilt.passed,
        "explanation": rebuilt.explanation,
        "details": rebuilt.details,
        "reconstructed": True,
    }


async def score_case(
    bound: BoundRecipe,
    case: Case,
    output: str,
    evidence: Evidence,
    *,
    model: ModelView | None = None,
    skip_judges: bool = False,
) -> tuple[list[dict[str, Any]], bool | None, bool | None]:
    """Every applicable scorer's verdict in both views; a case passes a view when all its checks do.

    Returns (score rows, system-view verdict, model-view verdict). Each row names the principles
    it evidences, so a scorecard attributes the check, not the whole case.
    """
    rows: list[dict[str, Any]] = []
    verdicts: list[bool] = []
    model_verdicts: list[bool] = []
    for bs in bound.scorers:
        if skip_judges and bs.scorer.requires_judge:
            continue
        if not bs.applies_to(case):
            rows.append(
                {
                    "scorer": bs.name,
                    "skipped": bs.scorer.problem(case) or "the check does not apply to this case",
                }
            )
            continue
        row: dict[str, Any] = {"scorer": bs.name, "principles": bs.principles_for(case)}
        if "system" in bs.scorer.views:
            row.update(await _one(bs.scorer, case, output, evidence))
            row["threshold"] = bs.scorer.threshold
            verdicts.append(bool(row["passed"]))
        else:
            row["skipped_view"] = "system"
        if model is not None:
            row["model"] = await _model_verdict(bs, case, model)
            if "passed" in row["model"]:
                model_verdicts.append(bool(row["model"]["passed"]))
        rows.append(row)
    return (
        rows,
        (all(verdicts) if verdicts else None),
        (all(model_verdicts) if model_verdicts else None),
    )


class Worker:
    def __init__(
        self,
        spec: RunSpec,
        suites: list[LoadedSuite] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.suites = suites if suites is not None else [load(ref) for ref in spec.suites]
        self.recipes: dict[tuple[str, str], Recipe] = {
            (s.suite.name, r.name): r for s in self.suites for r in s.suite.recipes
        }
        self.http = make_http_client(spec.gateway_url, transport=transport)
        self.client = GatewayClient(
            self.http, secret=spec.secret, trial_id=spec.trial_id, endpoint=spec.endpoint
        )
        judge = (
            GatewayJudge(self.client, spec.judge_endpoint, spec.workspace) if spec.judge_endpoint else None
        )
        self.scorers = build_scorers(self.suites, judge)
        kind = spec.target
        if kind == "external" and not spec.gateway_url:
            raise ConfigError(
                "an external target needs gateway_url: the app must reach the gateway over HTTP"
            )
        target_class: type[Target] = registry.targets.get(kind)
        self.target = target_class.from_spec(spec)

    async def run(self, item: WorkItem) -> ItemResult:
        recipe = self.recipes[(item.suite, item.recipe)]
        started = time.perf_counter()
        try:
            out = await self.target.run(item.case, recipe, self.client, self.spec.settings, item.key)
        except FinsandboxError as exc:
            out = TargetOutput(text="", evidence=Evidence(error=exc.message))
        out.evidence.latency_ms = (time.perf_counter() - started) * 1000
        if self.target.evidence_from_gateway:
            await _add_gateway_evidence(self.spec.trial_id, item.key, out.evidence)
        annotate(out.evidence, out.model_view)
        out.evidence.controlled_by_redaction = redaction_controls(
            item.case.attack, out.evidence.guard_decisions
        )
        stored_view: dict[str, Any] | None = None
        if out.evidence.error:
            scores: list[dict[str, Any]] = []
            passed: bool | None = False
        else:
            mv = model_view(out.text, out.evidence, out.model_view)
            scores, passed, model_passed = await score_case(
                self.scorers[(item.suite, item.recipe)], item.case, out.text, out.evidence, model=mv
            )
            stored_view = stored(mv, out.text, model_passed)
        evidence = dataclasses.asdict(out.evidence)
        evidence["model_view"] = stored_view
        return ItemResult(
            key=item.key,
            suite=item.suite,
            recipe=item.recipe,
            case_id=item.case.id,
            attack=(item.case.attack or {}).get("name"),
            case=item.case.model_dump(mode="json"),
            output=out.text,
            evidence=evidence,
            scores=scores,
            passed=passed,
            error=out.evidence.error,
            latency_ms=out.evidence.latency_ms or 0.0,
        )

    async def aclose(self) -> None:
        await self.target.aclose()
        await self.http.aclose()


def _gateway_evidence(trial_id: str, case_key: str) -> tuple[list[int], list[dict[str, Any]], bool]:
    import json

    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry, Trial, UsageRecord

    with session_scope() as s:
        # Evidence comes only from the trial's own workspace, whatever headers other keys sent.
        workspace_id = s.scalar(select(Trial.workspace_id).where(Trial.id == trial_id))
        seqs = [
            seq
            for seq in s.scalars(
                select(UsageRecord.ledger_seq).where(
                    UsageRecord.workspace_id == workspace_id,
                    UsageRecord.trial_id == trial_id,
                    UsageRecord.case_id == case_key,
                )
            )
            if seq is not None
        ]
        decisions: list[dict[str, Any]] = []
        blocked = False
        query = select(LedgerEntry).where(LedgerEntry.seq.in_(seqs), LedgerEntry.workspace_id == workspace_id)
        for entry in s.scalars(query):
            payload = json.loads(entry.payload)
            decisions.extend(payload.get("guard_decisions") or [])
            blocked = blocked or payload.get("status") == "blocked"
    return sorted(seqs), decisions, blocked


async def _add_gateway_evidence(trial_id: str, case_key: str, evidence: Evidence) -> None:
    seqs, decisions, blocked = await anyio.to_thread.run_sync(_gateway_evidence, trial_id, case_key)
    evidence.ledger_seqs = seqs
    evidence.guard_decisions = decisions
    evidence.blocked = evidence.blocked or blocked


@dataclass
class Progress:
    done: int = 0
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    recent: list[str] = field(default_factory=list)
