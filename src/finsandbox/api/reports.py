"""Exit reports, evidence bundles, the programme's public key and cohort insights."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from finsandbox.api.deps import Reader, Writer
from finsandbox.api.schemas import InsightsOut, PublicKeyOut
from finsandbox.supervision import keys

router = APIRouter(tags=["reports"])

_HTML_PDF = {200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "the report"}}


@router.get(
    "/workspaces/{slug}/exit-report",
    response_class=Response,
    responses=_HTML_PDF,  # type: ignore[arg-type]
    summary="Exit report of a use case",
)
def exit_report(
    slug: str, caller: Reader, format: Literal["html", "pdf"] = Query(default="html")
) -> Response:
    """What was tested, scorecards, findings and resolutions, guard statistics, usage, ledger head."""
    from finsandbox.supervision.exit_report import exit_report_context, render_exit_html, render_pdf

    html = render_exit_html(exit_report_context(caller.session, slug, user=caller.user))
    if format == "pdf":
        return Response(
            render_pdf(html),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="exit-report-{slug}.pdf"'},
        )
    return HTMLResponse(html)


@router.post(
    "/workspaces/{slug}/bundle",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the signed evidence bundle"}},
    summary="Export the signed evidence bundle",
)
def bundle(slug: str, caller: Writer, pdf: bool = Query(default=True)) -> Response:
    """A zip with the report, scorecards, results, reviews and ledger slice, signed with Ed25519."""
    from finsandbox.supervision.bundles import export_bundle

    with tempfile.TemporaryDirectory() as tmp:
        info = export_bundle(
            caller.session, slug, Path(tmp) / "bundle.zip", actor=caller.actor, user=caller.user, pdf=pdf
        )
        data = info.path.read_bytes()
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="evidence-{slug}.zip"'},
    )


@router.get("/bundles/public-key", response_model=PublicKeyOut, summary="The programme's public key")
def public_key() -> dict[str, str]:
    """Public by design: anyone may check a bundle with it."""
    key = keys.ensure_key().public_key()
    return {"key_id": keys.key_id(key), "pem": keys.public_bytes(key).decode()}


@router.get(
    "/cohorts/{name}/insights",
    response_model=InsightsOut,
    responses=_HTML_PDF,  # type: ignore[arg-type]
    summary="Cohort insights (supervisors)",
    tags=["insights"],
)
def insights(
    name: str,
    caller: Reader,
    k: int | None = Query(
        default=None, ge=1, le=1_000_000, description="minimum institutions per figure; may only be raised"
    ),
    format: Literal["json", "html", "pdf"] = Query(default="json"),
) -> Any:
    """Anonymised aggregates; no figure about fewer than k institutions."""
    from finsandbox.supervision.insights import cohort_insights, render_insights_html

    data = cohort_insights(caller.session, name, user=caller.user, k=k)
    if format == "json":
        return data
    html = render_insights_html(data)
    if format == "pdf":
        from finsandbox.reports.render import render_pdf

        return Response(render_pdf(html), media_type="application/pdf")
    return HTMLResponse(html)
