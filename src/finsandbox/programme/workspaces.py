"""Workspaces (admitted use cases), their members and their endpoints."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger, registry
from finsandbox.access.closure import ensure_open
from finsandbox.access.roles import THEMES, WORKSPACE_ROLES
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.gateway.endpoints import get_endpoint as get_endpoint  # the gateway routes by these
from finsandbox.gateway.endpoints import list_endpoints as list_endpoints
from finsandbox.store.models import Endpoint, Institution, Membership, User, Workspace

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def create_workspace(
    session: Session, *, slug: str, name: str, theme: str, bank: Institution, actor: str
) -> Workspace:
    if not _SLUG.match(slug):
        raise InvalidRequest(
            f"workspace slug {slug!r} must be 2-63 lowercase letters, digits or dashes", param="slug"
        )
    if theme not in THEMES:
        raise InvalidRequest(f"unknown theme {theme!r}; use one of {', '.join(THEMES)}", param="theme")
    if bank.kind != "bank":
        raise InvalidRequest(f"{bank.name} is a {bank.kind}, but a workspace belongs to a bank", param="bank")
    if session.scalars(select(Workspace).where(Workspace.slug == slug)).first():
        raise Conflict(f"a workspace with slug {slug!r} already exists")
    ws = Workspace(slug=slug, name=name.strip() or slug, theme=theme, bank_id=bank.id)
    session.add(ws)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="workspace.created",
        workspace_id=ws.id,
        payload={"workspace_id": ws.id, "slug": slug, "theme": theme, "bank_id": bank.id},
    )
    return ws


def get_workspace(session: Session, slug: str, *, user: User | None = None) -> Workspace:
    """A workspace by slug (or id); with `user`, one they may see, else NotFound as if it did not exist."""
    ws = session.scalars(select(Workspace).where(Workspace.slug == slug)).first()
    if ws is None and len(slug) == 32:
        ws = session.get(Workspace, slug)
    if ws is None:
        raise NotFound(f"no workspace {slug!r}")
    if user is not None:
        from finsandbox.access.authz import authorize

        authorize(user, "workspace.view", ws, subject=f"workspace {slug!r}")
    return ws


def list_workspaces(
    session: Session, *, user: User | None = None, cohort_id: str | None = None, status: str | None = None
) -> list[Workspace]:
    """All workspaces, or with `user` only those they may see (members: their own; supervisors: all)."""
    query = select(Workspace).order_by(Workspace.slug)
    if cohort_id is not None:
        query = query.where(Workspace.cohort_id == cohort_id)
    if status is not None:
        query = query.where(Workspace.status == status)
    if user is not None and user.role == "participant":
        query = query.where(
            Workspace.id.in_(select(Membership.workspace_id).where(Membership.user_id == user.id))
        )
    workspaces = list(session.scalars(query))
    if user is not None and user.role != "participant":
        from finsandbox.access.authz import allowed

        workspaces = [w for w in workspaces if allowed(user, "workspace.view", w)]
    return workspaces


def unique_slug(session: Session, text: str, *, max_length: int = 48) -> str:
    """A free workspace slug from a title ("Fraud triage (pilot)" -> "fraud-triage-pilot", then -2...)."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].strip("-")
    if len(base) < 2:
        base = f"use-case-{base}".strip("-")
    slug, n = base, 1
    while session.scalars(select(Workspace.id).where(Workspace.slug == slug)).first() is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def add_member(session: Session, workspace: Workspace, user: User, *, role: str, actor: str) -> Membership:
    """Add a bank or tech-partner user; supervisors oversee and are never members."""
    ensure_open(workspace, "take new members")
    if role not in WORKSPACE_ROLES:
        raise InvalidRequest(f"unknown workspace role {role!r}; use one of {', '.join(WORKSPACE_ROLES)}")
    if user.role != "participant":
        raise InvalidRequest(
            f"{user.email} is a {user.role}; only bank and tech-partner users can be members"
        )
    existing = session.scalars(
        select(Membership).where(Membership.workspace_id == workspace.id, Membership.user_id == user.id)
    ).first()
    if existing:
        raise Conflict(f"{user.email} is already a member of {workspace.slug} (as {existing.role})")
    m = Membership(workspace_id=workspace.id, user_id=user.id, role=role)
    session.add(m)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="member.added",
        workspace_id=workspace.id,
        payload={"user_id": user.id, "email": user.email, "role": role},
    )
    return m


def list_members(session: Session, workspace: Workspace) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership).where(Membership.workspace_id == workspace.id).order_by(Membership.created_at)
        )
    )


def add_endpoint(
    session: Session,
    workspace: Workspace,
    *,
    name: str,
    backend: str,
    config: dict[str, Any] | None,
    actor: str,
    customer_facing: bool = False,
    canary: bool = True,
) -> Endpoint:
    """Bind a model name in this workspace to a backend; the config is checked by the backend.

    Each endpoint gets a canary the gateway plants in its system prompt, so a reply that
    repeats the system prompt is caught by the output guards.
    """
    from finsandbox.gateway.backends import validate_config
    from finsandbox.guards import new_canary

    ensure_open(workspace, "take new endpoints")

    if backend not in registry.backends:
        raise InvalidRequest(registry.backends.unknown(backend), param="backend")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$", name):
        raise InvalidRequest(f"endpoint name {name!r} may hold letters, digits and . _ : / -", param="name")
    cfg = validate_config(backend, config or {})
    if session.scalars(
        select(Endpoint).where(Endpoint.workspace_id == workspace.id, Endpoint.name == name)
    ).first():
        raise Conflict(f"workspace {workspace.slug} already has an endpoint named {name!r}")
    ep = Endpoint(
        workspace_id=workspace.id,
        name=name,
        backend=backend,
        config=cfg,
        customer_facing=customer_facing,
        canary=new_canary() if canary else None,
    )
    session.add(ep)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="endpoint.created",
        workspace_id=workspace.id,
        payload={
            "endpoint": name,
            "backend": backend,
            "config": public_config(cfg),
            "customer_facing": customer_facing,
            "canary": bool(ep.canary),
        },
    )
    return ep


def set_guard_policy(session: Session, workspace: Workspace, text: str | None, *, actor: str) -> Workspace:
    """Validate and store a workspace's guard policy (None restores the default); refused whole if invalid."""
    from finsandbox.guards import parse_policy

    ensure_open(workspace, "change its guard policy")
    if text is not None:
        parse_policy(text, f"guard policy of {workspace.slug}")
    workspace.guard_policy = text
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="guard_policy.updated",
        workspace_id=workspace.id,
        payload={"digest": ledger.sha256_hex(text) if text else None, "default": text is None},
    )
    return workspace


def public_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config without secrets, for the ledger and listings."""
    return {k: ("***" if "key" in k.lower() and "env" not in k.lower() else v) for k, v in cfg.items()}
