"""Trial pages: launch a suite, watch it run, filter its results, open one case with all its evidence.

A trial launched here runs in a background thread of the server and calls the model through
this server's own gateway (loopback HTTP), so its calls are metered, guarded and in the ledger.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from finsandbox import usecases
from finsandbox.errors import FinsandboxError, NotFound
from finsandbox.evals.trials import (
    FINAL,
    TrialConfig,
    create_trial,
    get_trial,
    list_trials,
    request_cancel,
    results,
)
from finsandbox.programme import list_endpoints
from finsandbox.store.models import CaseResult, LedgerEntry, Review, Scorecard, Trial, UsageRecord
from finsandbox.web.base import Editor, Page, Viewer, field_errors, require
from finsandbox.web.playground import gateway_base
from finsandbox.web.workspaces import workspace_for

router = APIRouter()
log = logging.getLogger("finsandbox.web")
DEFAULT_MAX_CASES = 3


def trial_for(page: Page, trial_id: str, action: str = "trial.view") -> Trial:
    """The trial if the user may `action` its workspace; otherwise it does not exist for them."""
    try:
        trial = get_trial(page.session, trial_id)
    except NotFound:
        raise NotFound(f"no trial {trial_id!r}") from None
    page.authorize(action, trial.workspace, subject=f"trial {trial_id!r}")
    return trial


def launch_in_background(trial_id: str, actor: str) -> None:
    """Run the trial in a thread once its row is committed, and build its scorecard when it completes."""
    from finsandbox.evals.background import run_in_background
    from finsandbox.supervision.completion import scorecard_on_completion

    run_in_background(trial_id, actor, on_finish=scorecard_on_completion)


def _trials_page(
    page: Page,
    slug: str,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    suite_form: dict[str, Any] | None = None,
    suite_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    from finsandbox import registry
    from finsandbox.evals.datasets import list_datasets
    from finsandbox.supervision.framework import load_framework
    from finsandbox.supervision.suites import list_suites

    ws = workspace_for(page, slug)
    can_launch = page.may("trial.launch", ws)
    own = list_suites(page.session, page.user, ws)
    datasets = list_datasets(page.session, page.user, ws) if can_launch else []
    return page.render(
        "trials.html",
        {
            "ws": ws,
            "trials": list_trials(page.session, ws.id),
            "endpoints": list_endpoints(page.session, ws.id),
            "suites": usecases.THEMES,
            "own_suites": own,
            "datasets": datasets,
            "scorer_names": sorted(registry.scorers.names()),
            "attack_names": sorted(registry.attacks.names()),
            "framework_principles": [(p.id, p.name) for p in load_framework().framework.principles],
            "form": form or {"suite": ws.theme, "max_cases": str(DEFAULT_MAX_CASES)},
            "errors": errors or {},
            "suite_form": suite_form
            or {"input_column": "input", "expected_column": "expected", "id_column": "id"},
            "suite_errors": suite_errors or {},
            "can_launch": can_launch,
        },
        status,
    )


@router.post("/w/{slug}/suites", include_in_schema=False)
async def save_suite_page(page: Editor, slug: str, request: Request) -> Response:
    """Save a suite built from a dataset as the next version of its name; every problem shown at once."""
    from finsandbox.supervision.suites import save_suite

    ws = workspace_for(page, slug, "trial.launch")
    data = await request.form()
    form: dict[str, Any] = {
        k: str(data.get(k) or "")
        for k in (
            "name",
            "dataset",
            "input_column",
            "expected_column",
            "id_column",
            "system_prompt",
            "threshold",
        )
    }
    form["scorers"] = [str(v) for v in data.getlist("scorers")]
    form["principles"] = [str(v) for v in data.getlist("principles")]
    form["attacks"] = [str(v) for v in data.getlist("attacks")]
    errors: dict[str, str] = {}
    threshold: float | None = None
    if form["threshold"].strip():
        try:
            threshold = float(form["threshold"])
        except ValueError:
            errors["threshold"] = (
                "The pass threshold must be a number, such as 0.8 (or blank for each scorer's own)."
            )
        else:
            if not 0 <= threshold <= 1:
                errors["threshold"] = "The pass threshold must be between 0 and 1."
    if not form["dataset"]:
        errors["dataset"] = "Choose the dataset the cases come from."
    if not form["scorers"]:
        errors["scorers"] = "Choose at least one scorer."
    if not form["principles"]:
        errors["principles"] = "Choose the principles this suite evidences."
    if not errors:
        try:
            with page.session.begin_nested():
                saved = save_suite(
                    page.session,
                    page.user,
                    ws,
                    name=form["name"],
                    dataset_id=form["dataset"],
                    input_column=form["input_column"] or "input",
                    expected_column=form["expected_column"] or "expected",
                    id_column=form["id_column"] or "id",
                    scorers=[{"name": n, "threshold": threshold} for n in form["scorers"]],
                    principles=form["principles"],
                    attacks=form["attacks"],
                    system_prompt=form["system_prompt"],
                )
        except FinsandboxError as exc:
            errors["suite"] = exc.message
        else:
            return RedirectResponse(f"/w/{ws.slug}/trials?saved={saved.ref}#launch", status_code=303)
    return _trials_page(page, slug, suite_form=form, suite_errors=errors, status=400)


@router.get("/w/{slug}/trials", include_in_schema=False)
def trials(page: Viewer, slug: str, saved: str = "") -> Response:
    if saved:
        ws = workspace_for(page, slug)
        form = {"suite": saved, "max_cases": str(DEFAULT_MAX_CASES)}
        response = _trials_page(page, ws.slug, form)
        return response
    return _trials_page(page, slug)


@router.post("/w/{slug}/trials", include_in_schema=False)
def launch(
    page: Editor,
    slug: str,
    suite: Annotated[str, Form()] = "",
    endpoint: Annotated[str, Form()] = "",
    max_cases: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    ws = workspace_for(page, slug, "trial.launch")
    form = {"suite": suite, "endpoint": endpoint, "max_cases": max_cases, "name": name}
    try:
        ref = suite
        if suite.startswith("own:"):
            from finsandbox.supervision.suites import resolve

            ref = str(resolve(page.session, page.user, ws, suite).path)
        elif suite not in usecases.THEMES:
            raise FinsandboxError("choose a suite", param="suite")
        try:
            cases = int(max_cases) if max_cases.strip() else None
        except ValueError:
            raise FinsandboxError("the number of cases must be a whole number", param="max_cases") from None
        if cases is not None and not 1 <= cases <= 1000:
            raise FinsandboxError("the number of cases must be between 1 and 1000", param="max_cases")
        trial = create_trial(
            page.session,
            TrialConfig(
                workspace=ws.slug,
                endpoint=endpoint,
                suites=[ref],
                name=name.strip() or None,
                max_cases=cases,
                max_variants=1,
                max_tokens=128,
                concurrency=2,
                gateway_url=gateway_base(page.request),
            ),
            actor=page.actor,
        )
    except FinsandboxError as exc:
        return _trials_page(page, slug, form, field_errors(exc), 400)
    page.session.flush()
    launch_in_background(trial.id, page.actor)
    return RedirectResponse(f"/trials/{trial.id}", status_code=303)


def _principles_by_recipe(trial: Trial) -> dict[str, list[str]]:
    recipes = (trial.summary or {}).get("recipes") or {}
    out: dict[str, list[str]] = {}
    for key, block in recipes.items():
        principles = list((block or {}).get("principles") or [])
        out[key] = principles
        out[key.split("/")[-1]] = principles
    return out


def _results_context(page: Page, trial: Trial, recipe: str, principle: str, outcome: str) -> dict[str, Any]:
    rows = results(page.session, trial.id)
    by_recipe = _principles_by_recipe(trial)

    def principles_of(r: CaseResult) -> list[str]:
        return by_recipe.get(f"{r.suite}/{r.recipe}", by_recipe.get(r.recipe, []))

    shown = [
        r
        for r in rows
        if (not recipe or r.recipe == recipe)
        and (not principle or principle in principles_of(r))
        and (
            not outcome
            or (outcome == "pass" and r.passed is True)
            or (outcome == "fail" and r.passed is False)
            or (outcome == "error" and r.error is not None)
        )
    ]
    return {
        "trial": trial,
        "rows": shown,
        "total_rows": len(rows),
        "recipes": sorted({r.recipe for r in rows}),
        "principles": sorted({p for r in rows for p in principles_of(r)}),
        "principles_of": principles_of,
        "filters": {"recipe": recipe, "principle": principle, "outcome": outcome},
        "final": trial.status in FINAL,
    }


@router.get("/trials/{trial_id}", include_in_schema=False)
def trial_page(
    page: Viewer, trial_id: str, recipe: str = "", principle: str = "", outcome: str = ""
) -> Response:
    trial = trial_for(page, trial_id)
    reviews = list(
        page.session.scalars(
            select(Review)
            .join(Scorecard, Scorecard.id == Review.scorecard_id)
            .where(Scorecard.trial_id == trial.id)
        )
    )
    return page.render(
        "trial.html",
        {
            **_results_context(page, trial, recipe, principle, outcome),
            "ws": trial.workspace,
            "reviews": reviews,
            "can_cancel": page.may("trial.launch", trial.workspace),
        },
    )


@router.get("/trials/{trial_id}/results", include_in_schema=False)
def results_block(
    page: Viewer, trial_id: str, recipe: str = "", principle: str = "", outcome: str = ""
) -> Response:
    """The results table, polled by htmx while the trial runs, so results appear as cases finish."""
    trial = trial_for(page, trial_id)
    return page.render("_results.html", _results_context(page, trial, recipe, principle, outcome))


@router.post("/trials/{trial_id}/cancel", include_in_schema=False)
def cancel(page: Editor, trial_id: str) -> Response:
    """Ask a running trial to stop; finished cases are kept, and the runner stops within a second."""
    trial = trial_for(page, trial_id, "trial.launch")
    if trial.status not in FINAL:
        request_cancel(page.session, trial.id, actor=page.actor)
    return RedirectResponse(f"/trials/{trial.id}", status_code=303)


@router.get("/trials/{trial_id}/progress", include_in_schema=False)
def progress(page: Viewer, trial_id: str, live: int = 0) -> Response:
    """The progress block, polled by htmx while the trial runs; the page reloads once it ends."""
    trial = trial_for(page, trial_id)
    response = page.render(
        "_progress.html",
        {
            "trial": trial,
            "final": trial.status in FINAL,
            "can_cancel": page.may("trial.launch", trial.workspace),
        },
    )
    if live and trial.status in FINAL:
        response.headers["HX-Refresh"] = "true"
    return response


def _ledger_entries(page: Page, trial: Trial, row: CaseResult) -> list[dict[str, Any]]:
    seqs = set(row.evidence.get("ledger_seqs") or [])
    seqs |= {
        s
        for s in page.session.scalars(
            select(UsageRecord.ledger_seq).where(
                UsageRecord.workspace_id == trial.workspace_id,
                UsageRecord.trial_id == trial.id,
                UsageRecord.case_id == row.item,
            )
        )
        if s is not None
    }
    # Only the trial's own workspace's entries: evidence never comes from another bank's calls.
    entries = page.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.seq.in_(seqs), LedgerEntry.workspace_id == trial.workspace_id)
        .order_by(LedgerEntry.seq)
    )
    out = []
    for e in entries:
        try:
            payload = json.loads(e.payload)
        except ValueError:
            payload = {}
        out.append({"entry": e, "payload": json.dumps(payload, indent=2, ensure_ascii=False)[:4000]})
    return out


def case_result_for(page: Page, trial: Trial, result_id: str) -> CaseResult:
    row = page.session.get(CaseResult, result_id)
    require(row is not None and row.trial_id == trial.id, f"case result {result_id!r} in this trial")
    assert row is not None
    return row


def case_context(page: Page, trial: Trial, row: CaseResult) -> dict[str, Any]:
    """Everything the case page shows: input, output, scores, guard decisions, ledger entries."""
    from finsandbox.supervision.framework import load_framework

    by_recipe = _principles_by_recipe(trial)
    return {
        "trial": trial,
        "ws": trial.workspace,
        "row": row,
        "case_json": json.dumps(row.case, indent=2, ensure_ascii=False),
        "entries": _ledger_entries(page, trial, row),
        "decisions": row.evidence.get("guard_decisions") or [],
        "principles": by_recipe.get(f"{row.suite}/{row.recipe}", by_recipe.get(row.recipe, [])),
        "all_principles": [(p.id, p.name) for p in load_framework().framework.principles],
        "can_add_finding": page.may("review.add_finding", trial.workspace),
        "form": {},
        "errors": {},
    }


@router.get("/trials/{trial_id}/cases/{result_id}", include_in_schema=False)
def case_page(page: Viewer, trial_id: str, result_id: str) -> Response:
    trial = trial_for(page, trial_id)
    return page.render("case.html", case_context(page, trial, case_result_for(page, trial, result_id)))
