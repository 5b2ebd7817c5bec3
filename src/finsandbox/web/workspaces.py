"""Participant pages: dashboard, workspace (members, endpoints, keys, guard policy), exit report."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from finsandbox.access import create_key, list_keys, revoke_key
from finsandbox.access.keys import key_state
from finsandbox.errors import FinsandboxError, NotFound, PermissionDenied
from finsandbox.programme import get_workspace, lifecycle, list_endpoints, list_members, set_guard_policy
from finsandbox.store.models import ApiKey, Finding, Membership, Review, Scorecard, Trial, Workspace
from finsandbox.web.base import Editor, Page, Viewer, field_errors, require
from finsandbox.web.security import seal, unseal

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
            .where(Review.workspace_id == workspace_id, Finding.status == "open")
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


def _guide(text: str | None) -> dict[str, Any]:
    """The policy editor's reference: every guard with what it does, and whether this policy holds
    streams (a guard that needs the whole reply, the checker, delays every streamed token)."""
    from finsandbox.guards import parse_policy, registered_guards

    guards = []
    for name, cls in sorted(registered_guards().items()):
        doc = (cls.__doc__ or "").strip().splitlines()
        module_doc = (getattr(sys.modules.get(cls.__module__), "__doc__", None) or "").strip().splitlines()
        guards.append(
            {
                "name": name,
                "directions": " and ".join(cls.directions),
                "about": (module_doc or doc or [""])[0],
                "holds_stream": cls.holds_stream,
            }
        )
    try:
        policy = parse_policy(text or _default_policy_text())
        holding = [
            s.guard
            for s in policy.output
            if s.enabled and getattr(registered_guards().get(s.guard), "holds_stream", False)
        ]
    except FinsandboxError:
        holding = []
    return {"guards": guards, "holding": holding}


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
    state_form: dict[str, Any] | None = None,
    state_errors: dict[str, str] | None = None,
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
            "can_move": page.may("workspace.state", ws),
            "next_states": [s for s in lifecycle.next_states(ws.status) if s != "withdrawn"],
            "state_form": state_form or {},
            "state_errors": state_errors or {},
        },
        status,
    )


@router.get("/w/{slug}", include_in_schema=False)
def workspace(page: Viewer, slug: str) -> Response:
    """The workspace; a key created just before is shown once (it came through the redirect sealed)."""
    ws = workspace_for(page, slug)
    session = page.request.scope.get("session") or {}
    flash = session.pop("new_key", None)
    secret = None
    if isinstance(flash, dict) and flash.get("ws") == ws.id:
        secret = unseal(flash.get("secret"))
    response = _workspace_page(page, ws, new_secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


LIMITS = {
    "rpm_limit": "Requests per minute",
    "tpm_limit": "Tokens per minute",
    "token_budget": "Token budget",
}
MAX_LIMIT = 10**12


def parse_limits(form: dict[str, str]) -> tuple[dict[str, int | None], dict[str, str]]:
    """Each optional limit as a positive whole number (blank: no limit), with every problem in words."""
    values: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    for field, name in LIMITS.items():
        text = (form.get(field) or "").strip().replace(",", "").replace("_", "")
        if not text:
            values[field] = None
            continue
        try:
            value = int(text)
        except ValueError:
            errors[field] = f"{name} must be a whole number, such as 60 (or blank for no limit)."
            continue
        if value <= 0:
            errors[field] = f"{name} must be more than zero (or blank for no limit)."
        elif value > MAX_LIMIT:
            errors[field] = f"{name} must be at most {MAX_LIMIT:,}."
        else:
            values[field] = value
    return values, errors


@router.post("/w/{slug}/keys", include_in_schema=False)
def create_key_page(
    page: Editor,
    slug: str,
    name: Annotated[str, Form()] = "",
    rpm_limit: Annotated[str, Form()] = "",
    tpm_limit: Annotated[str, Form()] = "",
    token_budget: Annotated[str, Form()] = "",
) -> Response:
    """Create a key, then redirect (post/redirect/get): a reload cannot create a second key, and the
    secret is shown once on the page the redirect lands on (it is never stored)."""
    ws = workspace_for(page, slug, "key.manage")
    form = {"name": name, "rpm_limit": rpm_limit, "tpm_limit": tpm_limit, "token_budget": token_budget}
    limits, errors = parse_limits(form)
    if not name.strip():
        errors["name"] = "Give the key a name, such as the app that will use it."
    if errors:
        return _workspace_page(page, ws, key_form=form, key_errors=errors, status=400)
    try:
        new = create_key(page.session, ws, name=name.strip(), actor=page.actor, **limits)
    except FinsandboxError as exc:
        return _workspace_page(page, ws, key_form=form, key_errors=field_errors(exc, "name"), status=400)
    session = page.request.scope.get("session")
    if session is not None:
        session["new_key"] = {"ws": ws.id, "secret": seal(new.secret)}
    return RedirectResponse(f"/w/{ws.slug}#keys", status_code=303)


@router.post("/w/{slug}/state", include_in_schema=False)
def move_use_case(
    page: Editor, slug: str, to: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""
) -> Response:
    """A supervisor moves the use case on: conclude it (with the exit decision), or back to experimenting."""
    ws = workspace_for(page, slug, "workspace.state")
    form = {"to": to, "note": note}
    errors: dict[str, str] = {}
    if to not in lifecycle.next_states(ws.status):
        errors["to"] = "Choose where the use case goes next."
    if to == "concluded" and not note.strip():
        errors["note"] = "Say how the use case concluded (the exit decision)."
    if not errors:
        try:
            with page.session.begin_nested():
                lifecycle.change_state(page.session, page.user, ws, to, note=note)
        except (NotFound, PermissionDenied):
            raise
        except FinsandboxError as exc:
            errors[exc.param or "to"] = exc.message
    if errors:
        page.session.refresh(ws)
        return _workspace_page(page, ws, state_form=form, state_errors=errors, status=400)
    return RedirectResponse(f"/w/{ws.slug}#state", status_code=303)


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
            **_guide(ws.guard_policy),
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
            {
                "ws": ws,
                "text": text,
                "is_default": False,
                "can_edit": True,
                "error": exc.message,
                **_guide(None),
            },
            400,
        )
    return page.render(
        "policy.html",
        {
            "ws": ws,
            "text": ws.guard_policy or _default_policy_text(),
            "is_default": ws.guard_policy is None,
            "can_edit": True,
            **_guide(ws.guard_policy),
            "saved": "The default policy is restored."
            if reset
            else "Saved: the gateway applies it from the next call.",
        },
    )


@router.get("/w/{slug}/report", include_in_schema=False)
def exit_report(page: Viewer, slug: str) -> Response:
    """The exit report as a self-contained HTML file to download."""
    from finsandbox.supervision.exit_report import exit_report_context, render_exit_html

    ws = workspace_for(page, slug, "report.export")
    html = render_exit_html(exit_report_context(page.session, ws.slug, user=page.user))
    return HTMLResponse(
        html, headers={"Content-Disposition": f'attachment; filename="exit-report-{ws.slug}.html"'}
    )
