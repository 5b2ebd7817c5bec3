"""Trials: create, run (resumably), cancel, summarise, rescore and export.

A trial makes its model calls with a key of its own, created when it starts and revoked when
it stops, so its calls are authenticated, metered, guarded and written to the ledger exactly
like any participant's. Each case's result is stored the moment it finishes; the unique
(trial, item) pair lets a killed run resume without calling the model again for finished cases.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from finsandbox import ledger, registry
from finsandbox.access.closure import ensure_open
from finsandbox.access.keys import create_key, get_key, revoke_key
from finsandbox.config import get_settings
from finsandbox.errors import ConfigError, Conflict, InvalidRequest, NotFound
from finsandbox.evals.executors import get_executor
from finsandbox.evals.model import Case
from finsandbox.evals.plan import LoadedSuite, load, plan
from finsandbox.evals.scorers.base import Evidence, Score
from finsandbox.evals.trial_config import StoredTrial, SuiteRef, TrialConfig
from finsandbox.evals.views import model_view, principle_verdicts
from finsandbox.evals.worker import ItemResult, RunSpec, build_scorers, score_case
from finsandbox.gateway.endpoints import get_endpoint
from finsandbox.programme.workspaces import get_workspace
from finsandbox.store import session_scope
from finsandbox.store.models import CaseResult, Trial, new_id

FINAL = ("completed", "failed", "cancelled")
ProgressFn = Callable[[int, int, ItemResult | None], None]


def _now() -> datetime:
    return datetime.now(UTC)


def create_trial(session: Session, config: TrialConfig, *, actor: str) -> Trial:
    """Validate everything that can be validated before a model is called, then record the trial."""
    config.check()
    ws = get_workspace(session, config.workspace)
    ensure_open(ws, "launch trials")
    ep = get_endpoint(session, ws.id, config.endpoint)
    if config.judge_endpoint:
        get_endpoint(session, ws.id, config.judge_endpoint)
    get_executor(config.executor, config.concurrency)
    registry.targets.get(config.target_name)
    loaded = [load(ref) for ref in config.suites]
    items = plan(
        loaded,
        recipes=config.recipes,
        max_cases=config.max_cases,
        seed=config.seed,
        max_variants=config.max_variants,
    )
    if not items:
        raise InvalidRequest("the chosen suites and recipes hold no cases", param="recipes")
    build_scorers(loaded, _NoJudge() if config.judge_endpoint else None)
    if config.external_url:
        _check_reachable(config.external_url, "the target app")
    stored = StoredTrial(
        endpoint=config.endpoint,
        canary=bool(ep.canary),
        customer_facing=ep.customer_facing,
        external_url=config.external_url,
        gateway_url=config.gateway_url,
        judge_endpoint=config.judge_endpoint,
        suites=[SuiteRef(ref=s.ref, name=s.suite.name, path=str(s.path), digest=s.digest) for s in loaded],
        recipes=config.recipes,
        max_cases=config.max_cases,
        max_variants=config.max_variants,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        seed=config.seed,
        concurrency=config.concurrency,
        executor=config.executor,
        target=config.target_name,
    )
    trial = Trial(
        workspace_id=ws.id,
        name=config.name or f"{', '.join(s.suite.name for s in loaded)} on {config.endpoint}",
        created_by=actor,
        total_cases=len(items),
        config=stored.model_dump(mode="json", exclude={"key_prefix"}),
    )
    session.add(trial)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="trial.created",
        workspace_id=ws.id,
        payload={
            "trial_id": trial.id,
            "name": trial.name,
            "cases": len(items),
            "suites": trial.config["suites"],
        },
    )
    return trial


def _check_reachable(url: str, what: str) -> None:
    """Fail before the trial exists when the target cannot even be connected to."""
    import httpx

    try:
        httpx.request("HEAD", url, timeout=5.0)
    except httpx.InvalidURL:
        raise InvalidRequest(f"{what} URL {url!r} is not a valid URL") from None
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"{what} at {url} cannot be reached ({type(exc).__name__})") from None


MAX_CONSECUTIVE_ERRORS = 10


def get_trial(session: Session, trial_id: str) -> Trial:
    trial = session.get(Trial, trial_id)
    if trial is None:
        matches = list(session.scalars(select(Trial).where(Trial.id.startswith(trial_id)).limit(2)))
        if len(matches) == 1 and len(trial_id) >= 6:
            return matches[0]
        raise NotFound(f"no trial {trial_id!r}")
    return trial


def list_trials(session: Session, workspace_id: str | None = None) -> list[Trial]:
    q = select(Trial).order_by(Trial.created_at.desc())
    if workspace_id:
        q = q.where(Trial.workspace_id == workspace_id)
    return list(session.scalars(q))


def results(session: Session, trial_id: str) -> list[CaseResult]:
    return list(
        session.scalars(
            select(CaseResult).where(CaseResult.trial_id == trial_id).order_by(CaseResult.created_at)
        )
    )


def request_cancel(session: Session, trial_id: str, *, actor: str) -> Trial:
    trial = get_trial(session, trial_id)
    if trial.status in FINAL:
        raise Conflict(f"trial {trial.id} has already {trial.status}")
    trial.status = "cancelling" if trial.status == "running" else "cancelled"
    if trial.status == "cancelled":
        trial.finished_at = _now()
    ledger.append(
        session,
        actor=actor,
        kind="trial.cancel_requested",
        workspace_id=trial.workspace_id,
        payload={"trial_id": trial.id},
    )
    return trial


def _loaded_for(trial: Trial) -> list[LoadedSuite]:
    """The trial's suites, refusing to go on if any file changed since the trial was created."""
    loaded = []
    for ref in StoredTrial.model_validate(trial.config).suites:
        suite = load(ref.path)
        if suite.digest != ref.digest:
            raise ConfigError(
                f"suite {ref.name} ({ref.path}) changed since trial {trial.id} was created; "
                "start a new trial instead of resuming this one"
            )
        loaded.append(suite)
    return loaded


def _begin(trial_id: str, actor: str) -> tuple[Trial, str, set[str]]:
    with session_scope(write=True) as s:
        trial = get_trial(s, trial_id)
        if trial.status in FINAL:
            raise Conflict(f"trial {trial.id} has already {trial.status}; nothing to resume")
        if trial.status == "cancelling":
            raise Conflict(f"trial {trial.id} is being cancelled")
        ws = trial.workspace
        previous = trial.config.get("key_prefix")
        if previous:
            # A crashed run never reached _finish: its key would stay active for ever.
            old = get_key(s, previous)
            if old.revoked_at is None:
                revoke_key(s, old, actor=f"trial:{trial.id}")
        new = create_key(s, ws, name=f"trial {trial.id}", actor=f"trial:{trial.id}")
        resumed = trial.started_at is not None
        trial.status = "running"
        trial.started_at = trial.started_at or _now()
        trial.config = {**trial.config, "key_prefix": new.key.prefix}
        done = set(s.scalars(select(CaseResult.item).where(CaseResult.trial_id == trial.id)))
        ledger.append(
            s,
            actor=actor,
            kind="trial.resumed" if resumed else "trial.started",
            workspace_id=ws.id,
            payload={
                "trial_id": trial.id,
                "done": len(done),
                "total": trial.total_cases,
                "key": new.key.prefix,
            },
        )
        # The use case's first trial moves it from admitted to experimenting.
        from finsandbox.programme.lifecycle import mark_experimenting

        mark_experimenting(s, ws, actor=actor)
        return trial, new.secret, done


def _row(trial_id: str, result: ItemResult, finished_at: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "trial_id": trial_id,
        "item": result.key,
        "suite": result.suite,
        "recipe": result.recipe,
        "case_id": result.case_id,
        "attack": result.attack,
        "case": result.case,
        "output": result.output,
        "evidence": result.evidence,
        "scores": result.scores,
        "passed": result.passed,
        "error": result.error,
        "latency_ms": result.latency_ms,
        "created_at": finished_at,
    }


def _count_done(s: Session, trial_id: str) -> None:
    trial = s.get(Trial, trial_id)
    assert trial is not None
    trial.done_cases = s.scalar(select(func.count()).where(CaseResult.trial_id == trial_id)) or 0


def _store(trial_id: str, result: ItemResult, finished_at: datetime | None = None) -> bool:
    """Store one result; False when it was already stored (a resumed or duplicated item)."""
    try:
        with session_scope(write=True) as s:
            s.execute(insert(CaseResult), [_row(trial_id, result, finished_at or _now())])
            _count_done(s, trial_id)
        return True
    except IntegrityError:
        return False


def _store_batch(trial_id: str, batch: list[tuple[ItemResult, datetime]]) -> list[bool]:
    """Store finished results in one transaction; per result, False when it was already stored.

    When any of them was already stored (two runs of one trial racing), the batch is rolled back
    and each result is stored on its own, so the others still land and none is counted twice.
    """
    try:
        with session_scope(write=True) as s:
            s.execute(insert(CaseResult), [_row(trial_id, r, at) for r, at in batch])
            _count_done(s, trial_id)
        return [True] * len(batch)
    except IntegrityError:
        return [_store(trial_id, r, at) for r, at in batch]


MAX_STORE_BATCH = 256


class _ResultStore:
    """Group commit for one run's case results.

    Each finished case waits until its own result is committed, as before; but while one
    transaction is being written, the results that finish meanwhile queue up and go into the
    next one together, instead of each paying for its own write transaction (which on SQLite
    also queues behind the gateway's writes for the same lock). Nothing waits on a timer, so a
    result is stored as soon as the transaction before it has committed.
    """

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id
        self._pending: list[tuple[ItemResult, datetime, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._loop())

    async def store(self, result: ItemResult) -> bool:
        if self._closed:
            raise RuntimeError("the result store is closed")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((result, _now(), done))
        self._wake.set()
        return await done

    async def _loop(self) -> None:
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._pending[:MAX_STORE_BATCH]
            del self._pending[:MAX_STORE_BATCH]
            try:
                stored = await anyio.to_thread.run_sync(
                    _store_batch, self.trial_id, [(r, at) for r, at, _ in batch]
                )
            except BaseException as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, _, done), ok in zip(batch, stored, strict=True):
                if not done.done():
                    done.set_result(ok)

    async def aclose(self) -> None:
        """Store what is still queued, then stop; shielded, so finished cases are never dropped."""
        self._closed = True
        self._wake.set()
        with anyio.CancelScope(shield=True):
            await asyncio.shield(self._task)


def _status(trial_id: str) -> str:
    with session_scope() as s:
        return s.scalar(select(Trial.status).where(Trial.id == trial_id)) or "missing"


def _finish(trial_id: str, status: str, error: str | None, loaded: list[LoadedSuite] | None) -> Trial:
    with session_scope(write=True) as s:
        trial = get_trial(s, trial_id)
        prefix = trial.config.get("key_prefix")
        if prefix:
            key = get_key(s, prefix)
            if key.revoked_at is None:
                revoke_key(s, key, actor=f"trial:{trial.id}")
        if loaded is not None:
            trial.summary = summarize(loaded, results(s, trial.id))
        trial.status = status
        trial.error = error
        if status in FINAL:
            trial.finished_at = _now()
        ledger.append(
            s,
            actor=f"trial:{trial.id}",
            kind=f"trial.{status}",
            workspace_id=trial.workspace_id,
            payload={
                "trial_id": trial.id,
                "done": trial.done_cases,
                "total": trial.total_cases,
                "error": error,
                "summary_digest": ledger.sha256_hex(ledger.canonical(trial.summary or {})),
            },
        )
        return trial


async def run_trial(
    trial_id: str,
    *,
    actor: str = "runner",
    on_progress: ProgressFn | None = None,
    ray_address: str | None = None,
) -> Trial:
    """Run (or resume) a trial to the end, storing each case as it finishes."""
    trial, secret, done = await anyio.to_thread.run_sync(_begin, trial_id, actor)
    cfg = StoredTrial.model_validate(trial.config)
    status, error = "failed", None
    loaded: list[LoadedSuite] | None = None
    try:
        loaded = _loaded_for(trial)
        items = [
            i
            for i in plan(
                loaded,
                recipes=cfg.recipes,
                max_cases=cfg.max_cases,
                seed=cfg.seed,
                max_variants=cfg.max_variants,
            )
            if i.key not in done
        ]
        spec = RunSpec(
            trial_id=trial.id,
            workspace=trial.workspace.slug,
            endpoint=cfg.endpoint,
            secret=secret,
            suites=[s.path for s in cfg.suites],
            recipes=cfg.recipes,
            max_cases=cfg.max_cases,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            seed=cfg.seed,
            gateway_url=cfg.gateway_url,
            external_url=cfg.external_url,
            target=cfg.target or ("external" if cfg.external_url else "endpoint"),
            judge_endpoint=cfg.judge_endpoint,
            database_url=get_settings().resolved_database_url,
        )
        executor = get_executor(cfg.executor, cfg.concurrency, address=ray_address)
        count = len(done)
        stop = False

        async def watch_cancel() -> None:
            nonlocal stop
            while not stop:
                await asyncio.sleep(1.0)
                if await anyio.to_thread.run_sync(_status, trial.id) == "cancelling":
                    stop = True

        consecutive_errors = 0
        abort_reason: str | None = None

        async def on_result(result: ItemResult) -> None:
            nonlocal count, consecutive_errors, abort_reason, stop
            if await store.store(result):
                count += 1
            consecutive_errors = consecutive_errors + 1 if result.error else 0
            if consecutive_errors >= MAX_CONSECUTIVE_ERRORS and abort_reason is None:
                abort_reason = (
                    f"stopped after {consecutive_errors} cases in a row failed; last error: {result.error}"
                )
                stop = True
            if on_progress:
                on_progress(count, trial.total_cases, result)

        if on_progress:
            on_progress(count, trial.total_cases, None)
        store = _ResultStore(trial.id)
        watcher = asyncio.create_task(watch_cancel())
        try:
            await executor.run(spec, loaded, items, on_result, lambda: stop)
        finally:
            cancelled_by_user = stop and abort_reason is None
            stop = True
            watcher.cancel()
            await store.aclose()
        if abort_reason:
            status, error = "failed", abort_reason
        else:
            status = "cancelled" if cancelled_by_user else "completed"
    except (asyncio.CancelledError, KeyboardInterrupt):
        status, error = "interrupted", "the run was interrupted; resume the trial to finish it"
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_finish, trial.id, status, error, loaded)
        raise
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        status, error = "failed", message
    with anyio.CancelScope(shield=True):
        return await anyio.to_thread.run_sync(_finish, trial.id, status, error, loaded)


def summarize(loaded: list[LoadedSuite], rows: list[CaseResult]) -> dict[str, Any]:
    """Per recipe, per principle and per theme: counts, pass rates and the scorers' aggregates."""
    scorers = build_scorers(loaded, _NoJudge())
    recipes = {(s.suite.name, r.name): (s.suite, r) for s in loaded for r in s.suite.recipes}
    by_recipe: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for row in rows:
        by_recipe[(row.suite, row.recipe)].append(row)
    out_recipes: dict[str, Any] = {}
    principles: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "passed": 0})
    themes: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "passed": 0})
    for key, (suite, recipe) in recipes.items():
        got = by_recipe.get(key, [])
        judged = [r for r in got if r.passed is not None]
        passed = sum(1 for r in judged if r.passed)
        aggregates: dict[str, Any] = {}
        for bs in scorers[key].scorers:
            name, scorer = bs.name, bs.scorer
            triples = []
            for r in got:
                score = next((s for s in r.scores if s.get("scorer") == name and "value" in s), None)
                if score is not None:
                    triples.append(
                        (
                            Case.model_validate(r.case),
                            r.output,
                            Score(
                                value=score["value"],
                                passed=score["passed"],
                                explanation=score.get("explanation", ""),
                                details=score.get("details") or {},
                            ),
                        )
                    )
            try:
                aggregates[name] = scorer.aggregate(triples)
            except Exception as exc:  # an aggregate must never lose the trial's results
                aggregates[name] = {"error": f"{type(exc).__name__}: {exc}"}
        theme = recipe.theme or suite.theme or "unspecified"
        out_recipes[f"{suite.name}/{recipe.name}"] = {
            "suite": suite.name,
            "recipe": recipe.name,
            "theme": theme,
            "principles": recipe.principles,
            "n": len(got),
            "judged": len(judged),
            "passed": passed,
            "pass_rate": passed / len(judged) if judged else None,
            "errors": sum(1 for r in got if r.error),
            "blocked": sum(1 for r in got if r.evidence.get("blocked")),
            "scorers": aggregates,
        }
        # Each case counts toward a principle only through the checks that evidence it.
        for r in got:
            if r.error:
                verdicts = dict.fromkeys(recipe.principles, False) if r.passed is not None else {}
            else:
                verdicts = principle_verdicts(r.scores, "system", list(recipe.principles))
            for p, ok in verdicts.items():
                principles[p]["n"] += 1
                principles[p]["passed"] += int(ok)
        themes[theme]["n"] += len(judged)
        themes[theme]["passed"] += passed

    def rates(d: dict[str, dict[str, int]]) -> dict[str, Any]:
        return {k: {**v, "pass_rate": v["passed"] / v["n"] if v["n"] else None} for k, v in sorted(d.items())}

    return {
        "recipes": out_recipes,
        "principles": rates(principles),
        "themes": rates(themes),
        "cases": len(rows),
    }


class _NoJudge:
    """Stands in for the judge when only aggregates are computed (no model is ever called)."""

    identity = "none (aggregation only)"

    def __call__(self, messages: list[dict[str, str]]) -> str:
        raise ConfigError("no model may be called while summarising")


def rescore(trial_id: str, *, actor: str) -> Trial:
    """Recompute every score from stored outputs and evidence, without calling any model.

    LLM-judge scores cannot be recomputed without the judge, so they are carried over as they were.
    """
    with session_scope(write=True) as s:
        trial = get_trial(s, trial_id)
        if trial.status in ("running", "cancelling"):
            raise Conflict(f"trial {trial.id} is still running")
        loaded = _loaded_for(trial)
        scorers = build_scorers(loaded, _NoJudge())
        rows = results(s, trial.id)
        for row in rows:
            if row.error:
                continue
            evidence = Evidence(
                **{k: v for k, v in row.evidence.items() if k in Evidence.__dataclass_fields__}
            )
            bound = scorers[(row.suite, row.recipe)]
            case = Case.model_validate(row.case)
            kept_view = row.evidence.get("model_view") or None
            # The model's own text was never stored: a view the gateway supplied keeps its verdicts;
            # an unchanged or reconstructed one is recomputed from what was stored.
            redo = kept_view is not None and kept_view.get("source") != "gateway"
            mv = model_view(row.output, evidence, None) if redo else None
            new_rows, _, model_passed = asyncio.run(
                score_case(bound, case, row.output, evidence, model=mv, skip_judges=True)
            )
            judges = {bs.name for bs in bound.scorers if bs.scorer.requires_judge}
            kept = [x for x in row.scores if x.get("scorer") in judges]
            if kept_view is not None and not redo:
                model_passed = carry_model_verdicts(row.scores, new_rows)
            row.scores = new_rows + kept
            verdicts = [x["passed"] for x in row.scores if "passed" in x]
            row.passed = all(verdicts) if verdicts else None
            if kept_view is not None:
                model_verdicts = [
                    x["model"]["passed"] for x in row.scores if "passed" in (x.get("model") or {})
                ]
                model_passed = all(model_verdicts) if model_verdicts else None
                row.evidence = {**row.evidence, "model_view": {**kept_view, "passed": model_passed}}
        trial.score_version += 1
        trial.summary = summarize(loaded, rows)
        ledger.append(
            s,
            actor=actor,
            kind="trial.rescored",
            workspace_id=trial.workspace_id,
            payload={
                "trial_id": trial.id,
                "score_version": trial.score_version,
                "summary_digest": ledger.sha256_hex(ledger.canonical(trial.summary)),
            },
        )
        return trial


def carry_model_verdicts(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool | None:
    """Copy each check's stored model-view verdict onto its rescored row (matched by scorer, in order)."""
    pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in old:
        if isinstance(row.get("model"), dict):
            pool[str(row.get("scorer"))].append(row["model"])
    verdicts = []
    for row in new:
        if "principles" in row and pool.get(str(row["scorer"])):
            row["model"] = pool[str(row["scorer"])].pop(0)
            if "passed" in row["model"]:
                verdicts.append(bool(row["model"]["passed"]))
    return all(verdicts) if verdicts else None


def export(session: Session, trial_id: str, fmt: str) -> str:
    """The trial's case results as JSONL (everything) or CSV (one row per case, scores flattened)."""
    trial = get_trial(session, trial_id)
    rows = results(session, trial.id)
    if fmt == "jsonl":
        return "".join(
            json.dumps(
                {
                    "trial": trial.id,
                    "item": r.item,
                    "suite": r.suite,
                    "recipe": r.recipe,
                    "case_id": r.case_id,
                    "attack": r.attack,
                    "passed": r.passed,
                    "error": r.error,
                    "latency_ms": round(r.latency_ms, 1),
                    "input": r.case.get("input"),
                    "expected": r.case.get("expected"),
                    "output": r.output,
                    "scores": r.scores,
                    "evidence": r.evidence,
                },
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            ["item", "suite", "recipe", "case_id", "attack", "passed", "error", "scores", "output"]
        )
        for r in rows:
            scores = "; ".join(
                f"{x['scorer']}={x['value']:.3g}" if "value" in x else f"{x['scorer']}=n/a" for x in r.scores
            )
            writer.writerow(
                [
                    r.item,
                    r.suite,
                    r.recipe,
                    r.case_id,
                    r.attack or "",
                    r.passed,
                    r.error or "",
                    scores,
                    r.output,
                ]
            )
        return buf.getvalue()
    raise InvalidRequest(f"unknown export format {fmt!r}; use jsonl or csv")
