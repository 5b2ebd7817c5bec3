"""Participant pages: dashboard, workspace (members, endpoints, keys, guard policy), exit report."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from finsandbox.access import create_key, list_keys, revoke_key
from finsandbox.access.keys import key_state
from finsandbox.errors import FinsandboxError, NotFound
from finsandbox.programme import get_workspace, list_endpoints, list_members, set_guard_policy
from finsandbox.store.models import ApiKey, Finding, Membership, Review, Scorecard, Trial, Workspace
from finsandbox.web.base import Editor, Page, Viewer, field_errors, require

router = APIRouter()


def workspace_for(page: Page, slug: str, action: str = "workspace.view") -> Workspace:
    """The workspace if the user may do `action` on it; participants of other banks get NotFound."""
    try:
        ws = get_workspace(page.session, slug)
    except NotFound:
        raise NotFound(f"no workspace {slug!r}") from None
    page.authorize(action, ws)
    return ws


def latest_grade(page: Page, workspace_id: str) -> tuple[str | None, Scorecard | None]:
    card = page.session.scalars(
        select(Scorecard).where(Scorecard.workspace_id == workspace_id).order_by(Scorecard.created_at.desc())
    ).first()
    if card is None:
        return None, None
    return (card.data.get("overall") or {}).get("grade"), card


def open_findings(page: Page, workspace_id: str) -> int:
    return (
        page.session.scalar(
            select(func.count(Finding.id))
            .join(Review, Review.id == Finding.review_id)
            .where(Review.workspace_id == workspace_id, Finding.status != "resolved")
        )
        or 0
    )


def workspace_summary(page: Page, ws: Workspace) -> dict[str, Any]:
    trial = page.session.scalars(
        select(Trial).where(Trial.workspace_id == ws.id).order_by(Trial.created_at.desc())
    ).first()
    grade, card = latest_grade(page, ws.id)
    return {
        "ws": ws,
        "trial": trial,
        "grade": grade,
        "scorecard": card,
        "open_findings": open_findings(page, ws.id),
    }


@router.get("/dashboard", include_in_schema=False)
def dashboard(page: Viewer) -> Response:
    if page.user.role != "participant":
        return RedirectResponse("/", status_code=303)
    memberships = page.session.scalars(
        select(Membership).where(Membership.user_id == page.user.id).order_by(Membership.created_at)
    )
    rows = [{**workspace_summary(page, m.workspace), "role": m.role} for m in memberships]
    return page.render("dashboard.html", {"rows": rows})


def _default_policy_text() -> str:
    from finsandbox.guards.policy import DEFAULT_POLICY_FILE

    return resources.files("finsandbox.guards").joinpath(DEFAULT_POLICY_FILE).read_text(encoding="utf-8")


def _workspace_page(
    page: Page,
    ws: Workspace,
    *,
    new_secret: str | None = None,
    key_form: dict[str, Any] | None = None,
    key_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    keys = list_keys(page.session, ws)
    return page.render(
        "workspace.html",
        {
            "ws": ws,
            "summary": workspace_summary(page, ws),
            "members": list_members(page.session, ws),
            "endpoints": list_endpoints(page.session, ws.id),
            "keys": [(k, key_state(k)) for k in reversed(keys)],
            "new_secret": new_secret,
            "key_form": key_form or {},
            "key_errors": key_errors or {},
            "can_edit": page.may("key.manage", ws),
        },
        status,
    )


@router.get("/w/{slug}", include_in_schema=False)
def workspace(page: Viewer, slug: str) -> Response:
    return _workspace_page(page, workspace_for(page, slug))


def _limit(value: str, field: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise FinsandboxError(f"{field} must be a whole number", param=field) from None


@router.post("/w/{slug}/keys", include_in_schema=False)
def create_key_page(
    page: Editor,
    slug: str,
    name: Annotated[str, Form()] = "",
    rpm_limit: Annotated[str, Form()] = "",
    tpm_limit: Annotated[str, Form()] = "",
    token_budget: Annotated[str, Form()] = "",
) -> Response:
    """Create a key and show its secret once, in this response only (it is never stored)."""
    ws = workspace_for(page, slug, "key.manage")
    form = {"name": name, "rpm_limit": rpm_limit, "tpm_limit": tpm_limit, "token_budget": token_budget}
    try:
        new = create_key(
            page.session,
            ws,
            name=name,
            actor=page.actor,
            rpm_limit=_limit(rpm_limit, "rpm_limit"),
            tpm_limit=_limit(tpm_limit, "tpm_limit"),
            token_budget=_limit(token_budget, "token_budget"),
        )
    except FinsandboxError as exc:
        return _workspace_page(page, ws, key_form=form, key_errors=field_errors(exc, "name"), status=400)
    response = _workspace_page(page, ws, new_secret=new.secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/w/{slug}/keys/{prefix}/revoke", include_in_schema=False)
def revoke_key_page(page: Editor, slug: str, prefix: str) -> Response:
    ws = workspace_for(page, slug, "key.manage")
    key = page.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    require(key is not None and key.workspace_id == ws.id, f"key {prefix!r} in this workspace")
    assert key is not None
    if key.revoked_at is None:
        revoke_key(page.session, key, actor=page.actor)
    return RedirectResponse(f"/w/{ws.slug}#keys", status_code=303)


@router.get("/w/{slug}/policy", include_in_schema=False)
def policy_form(page: Viewer, slug: str) -> Response:
    ws = workspace_for(page, slug)
    return page.render(
        "policy.html",
        {
            "ws": ws,
            "text": ws.guard_policy or _default_policy_text(),
            "is_default": ws.guard_policy is None,
            "can_edit": page.may("policy.edit", ws),
        },
    )


@router.post("/w/{slug}/policy", include_in_schema=False)
def policy_save(
    page: Editor, slug: str, text: Annotated[str, Form()] = "", reset: Annotated[str, Form()] = ""
) -> Response:
    """Validate and save; an invalid policy is refused whole and shown again with the problem beside it."""
    ws = workspace_for(page, slug, "policy.edit")
    try:
        set_guard_policy(page.session, ws, None if reset else text.replace("\r\n", "\n"), actor=page.actor)
    except FinsandboxError as exc:
        return page.render(
            "policy.html",
            {"ws": ws, "text": text, "is_default": False, "can_edit": True, "error": exc.message},
            400,
        )
    return page.render(
        "policy.html",
        {
            "ws": ws,
            "text": ws.guard_policy or _default_policy_text(),
            "is_default": ws.guard_policy is None,
            "can_edit": True,
            "saved": "The default policy is restored."
            if reset
            else "Saved: the gateway applies it from the next call.",
        },
    )


@router.get("/w/{slug}/report", include_in_schema=False)
def exit_report(page: Viewer, slug: str) -> Response:
    """The exit report as a self-contained HTML file to download."""
    from finsandbox.reports.exit_report import exit_report_context, render_exit_html

    ws = workspace_for(page, slug, "report.export")
    html = render_exit_html(exit_report_context(page.session, ws.slug, user=page.user))
    return HTMLResponse(
        html, headers={"Content-Disposition": f'attachment; filename="exit-report-{ws.slug}.html"'}
    )
