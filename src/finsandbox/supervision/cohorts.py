"""Cohorts: time-boxed intakes that group workspaces (applications and admission come later).

Kept next to the insights that aggregate over them; `programme/` may take them over once
applications exist.
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
) -> Cohort:
    if user is not None:
        authorize(user, "cohort.manage")
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidRequest(f"cohort name {name!r} may hold letters, digits, spaces and . _ -", param="name")
    bad = [t for t in themes if t not in THEMES]
    if bad:
        raise InvalidRequest(f"unknown theme {bad[0]!r}; use one of {', '.join(THEMES)}", param="themes")
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
        status="open",
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
        },
    )
    return cohort


def get_cohort(session: Session, name: str, *, user: User | None = None) -> Cohort:
    cohort = session.scalars(select(Cohort).where(Cohort.name == name)).first()
    if cohort is None:
        cohort = session.get(Cohort, name)
    if cohort is None:
        raise NotFound(f"no cohort {name!r}")
    if user is not None:
        authorize(user, "cohort.view", cohort, subject=f"cohort {name!r}")
    return cohort


def list_cohorts(session: Session, *, user: User | None = None) -> list[Cohort]:
    if user is not None:
        authorize(user, "cohort.view")
    return list(session.scalars(select(Cohort).order_by(Cohort.name)))


def cohort_workspaces(session: Session, cohort: Cohort) -> list[Workspace]:
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
