"""Cohorts: time-boxed intakes with themes and dates; banks apply to an open cohort, and insights
aggregate over its workspaces.

A cohort is planned, then open (taking applications), then closed (taking none; its admitted use
cases carry on until they conclude). Closing can be undone by opening it again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.access.roles import THEMES
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.store.models import Cohort, User, Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
MIN_K = 2
COHORT_STATES = ("planned", "open", "closed")


def create_cohort(
    session: Session,
    *,
    name: str,
    themes: Sequence[str],
    actor: str,
    starts_on: date | None = None,
    ends_on: date | None = None,
    min_group_size: int = 3,
    user: User | None = None,
    status: str = "open",
) -> Cohort:
    """Create a cohort, open for applications unless `status="planned"`."""
    if user is not None:
        authorize(user, "cohort.manage")
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidRequest(f"cohort name {name!r} may hold letters, digits, spaces and . _ -", param="name")
    bad = [t for t in themes if t not in THEMES]
    if bad:
        raise InvalidRequest(f"unknown theme {bad[0]!r}; use one of {', '.join(THEMES)}", param="themes")
    if status not in ("planned", "open"):
        raise InvalidRequest("a new cohort is planned or open", param="status")
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidRequest("the cohort ends before it starts", param="ends_on")
    if min_group_size < MIN_K:
        raise InvalidRequest(
            f"the minimum group size must be at least {MIN_K}; a group of one is one institution",
            param="min_group_size",
        )
    if session.scalars(select(Cohort).where(Cohort.name == name)).first():
        raise Conflict(f"a cohort named {name!r} already exists")
    cohort = Cohort(
        name=name,
        themes=list(dict.fromkeys(themes)),
        starts_on=starts_on,
        ends_on=ends_on,
        min_group_size=min_group_size,
        status=status,
    )
    session.add(cohort)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="cohort.created",
        payload={
            "cohort_id": cohort.id,
            "name": name,
            "themes": cohort.themes,
            "starts_on": starts_on.isoformat() if starts_on else None,
            "ends_on": ends_on.isoformat() if ends_on else None,
            "min_group_size": min_group_size,
            "status": status,
        },
    )
    return cohort


def _set_status(session: Session, cohort: Cohort, status: str, *, actor: str, user: User | None) -> Cohort:
    if user is not None:
        authorize(user, "cohort.manage", cohort)
    if cohort.status == status:
        raise Conflict(f"cohort {cohort.name} is already {status}")
    previous = cohort.status
    cohort.status = status
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind=f"cohort.{'opened' if status == 'open' else 'closed'}",
        payload={"cohort_id": cohort.id, "name": cohort.name, "from": previous, "to": status},
    )
    return cohort


def open_cohort(session: Session, cohort: Cohort, *, actor: str, user: User | None = None) -> Cohort:
    """Start (or resume) taking applications."""
    return _set_status(session, cohort, "open", actor=actor, user=user)


def close_cohort(session: Session, cohort: Cohort, *, actor: str, user: User | None = None) -> Cohort:
    """Stop taking applications; those already in, and admitted use cases, carry on."""
    return _set_status(session, cohort, "closed", actor=actor, user=user)


def get_cohort(session: Session, name: str, *, user: User | None = None) -> Cohort:
    cohort = session.scalars(select(Cohort).where(Cohort.name == name)).first()
    if cohort is None:
        cohort = session.get(Cohort, name)
    if cohort is None:
        raise NotFound(f"no cohort {name!r}")
    if user is not None:
        authorize(user, "cohort.view", cohort, subject=f"cohort {name!r}")
    return cohort


def list_cohorts(session: Session, *, user: User | None = None, status: str | None = None) -> list[Cohort]:
    if user is not None:
        authorize(user, "cohort.view")
    query = select(Cohort).order_by(Cohort.name)
    if status is not None:
        query = query.where(Cohort.status == status)
    return list(session.scalars(query))


def cohort_workspaces(session: Session, cohort: Cohort) -> list[Workspace]:
    """Every workspace of the cohort (callers showing them to a person filter by what they may see)."""
    return list(
        session.scalars(select(Workspace).where(Workspace.cohort_id == cohort.id).order_by(Workspace.slug))
    )


def add_workspace(
    session: Session, cohort: Cohort, workspace: Workspace, *, actor: str, user: User | None = None
) -> Workspace:
    if user is not None:
        authorize(user, "cohort.manage", cohort)
    if workspace.cohort_id == cohort.id:
        raise Conflict(f"{workspace.slug} is already in cohort {cohort.name}")
    if workspace.cohort_id is not None:
        current = session.get(Cohort, workspace.cohort_id)
        raise Conflict(
            f"{workspace.slug} already belongs to cohort {current.name if current else workspace.cohort_id}"
        )
    if cohort.themes and workspace.theme not in cohort.themes:
        raise InvalidRequest(
            f"{workspace.slug} is a {workspace.theme} use case; "
            f"cohort {cohort.name} takes {', '.join(cohort.themes)}"
        )
    workspace.cohort_id = cohort.id
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="cohort.workspace_added",
        workspace_id=workspace.id,
        payload={"cohort_id": cohort.id, "workspace_id": workspace.id},
    )
    return workspace
