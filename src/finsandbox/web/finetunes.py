"""Fine-tune pages: a workspace's fine-tuned endpoints with their provenance and loss curves, and the
button that runs the same suite on a base and a tuned endpoint and compares their scorecards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from finsandbox.errors import FinsandboxError
from finsandbox.finetune import list_finetunes
from finsandbox.programme import list_endpoints
from finsandbox.reports.charts import data_uri, loss_chart
from finsandbox.store.models import Trial
from finsandbox.supervision.base_vs_tuned import create_pair
from finsandbox.supervision.scorecards import compare_trials
from finsandbox.web.base import Editor, Page, Viewer, field_errors
from finsandbox.web.playground import gateway_base
from finsandbox.web.trials import launch_in_background
from finsandbox.web.workspaces import workspace_for

router = APIRouter()
COMPARE_MAX_CASES = 20


def _page(
    page: Page,
    slug: str,
    *,
    base_trial: str | None = None,
    tuned_trial: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ws = workspace_for(page, slug, "workspace.view")
    items = list_finetunes(page.session, slug, user=page.user)
    for item in items:
        curve = item["training"]["loss_curve"]
        item["chart"] = data_uri(loss_chart(curve, f"{item['endpoint']}: training loss")) if curve else None
    comparison: dict[str, Any] | None = None
    running: list[Trial] = []
    if base_trial and tuned_trial:
        trials = [page.session.get(Trial, t) for t in (base_trial, tuned_trial)]
        if all(t is not None and t.workspace_id == ws.id for t in trials):
            running = [t for t in trials if t is not None and t.status != "completed"]
            if not running:
                comparison = compare_trials(
                    page.session, base_trial, tuned_trial, user=page.user, actor=page.actor
                )
    names = [e.name for e in list_endpoints(page.session, ws.id)]
    tuned_names = [i["endpoint"] for i in items if i["endpoint"] in names]
    return page.render(
        "finetunes.html",
        {
            "ws": ws,
            "items": items,
            "endpoints": names,
            "tuned_names": tuned_names,
            "can_compare": page.may("trial.launch", ws),
            "comparison": comparison,
            "running": running,
            "base_trial": base_trial,
            "tuned_trial": tuned_trial,
            "errors": errors or {},
        },
        status,
    )


@router.get("/w/{slug}/finetunes", include_in_schema=False)
def finetunes(
    page: Viewer, slug: str, base_trial: str | None = None, tuned_trial: str | None = None
) -> Response:
    return _page(page, slug, base_trial=base_trial, tuned_trial=tuned_trial)


@router.post("/w/{slug}/finetunes/compare", include_in_schema=False)
def compare(
    page: Editor,
    slug: str,
    base: Annotated[str, Form()] = "",
    tuned: Annotated[str, Form()] = "",
) -> Response:
    """Start the two trials (in the background, through the gateway) and show their comparison."""
    ws = workspace_for(page, slug, "trial.launch")
    try:
        ids = create_pair(
            page.session,
            ws.slug,
            base,
            tuned,
            actor=page.actor,
            max_cases=COMPARE_MAX_CASES,
            gateway_url=gateway_base(page.request),
        )
    except FinsandboxError as exc:
        return _page(page, slug, errors=field_errors(exc), status=400)
    page.session.flush()
    for trial_id in ids.values():
        launch_in_background(trial_id, page.actor)
    return RedirectResponse(
        f"/w/{ws.slug}/finetunes?base_trial={ids['base']}&tuned_trial={ids['tuned']}", status_code=303
    )
