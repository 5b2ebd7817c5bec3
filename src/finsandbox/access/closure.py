"""Closed use cases: a withdrawn, declined or concluded workspace accepts no new work.

The state change revokes every active key of the workspace (recorded in the ledger), and every
credential check reads the workspace's state fresh, so a key, a token or a session refuses work in a
closed workspace from its very next request in every process, with a 403 that names the state. What
was done there stays visible (its trials, scorecards, reviews and bundles are the evidence a
supervisor and the bank keep), but nothing new can be created.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.errors import PermissionDenied
from finsandbox.store.models import ApiKey, Workspace

CLOSED_STATES = frozenset({"declined", "concluded", "withdrawn"})
"""The final lifecycle states in which a workspace does no more work."""


class WorkspaceClosed(PermissionDenied):
    """Work refused because the workspace's use case has reached a final state."""

    code = "workspace_closed"


def is_closed(status: str | None) -> bool:
    return status in CLOSED_STATES


def closed_error(slug: str, status: str, doing: str) -> WorkspaceClosed:
    """The one message for work refused in a closed workspace, naming its state."""
    state = status.replace("_", " ")
    return WorkspaceClosed(f"workspace {slug} is {state}: it can no longer {doing}")


def ensure_open(workspace: Workspace, doing: str) -> None:
    """Raise WorkspaceClosed when the workspace is withdrawn, declined or concluded."""
    if is_closed(workspace.status):
        raise closed_error(workspace.slug, workspace.status, doing)


def revoke_workspace_keys(session: Session, workspace: Workspace, *, actor: str, because: str) -> list[str]:
    """Revoke every active key of a workspace at once (one ledger entry); returns their prefixes."""
    now = datetime.now(UTC)
    keys = list(
        session.scalars(
            select(ApiKey).where(ApiKey.workspace_id == workspace.id, ApiKey.revoked_at.is_(None))
        )
    )
    for key in keys:
        key.revoked_at = now
    session.flush()
    if keys:
        ledger.append(
            session,
            actor=actor,
            kind="key.revoked",
            workspace_id=workspace.id,
            payload={
                "key_ids": [k.id for k in keys],
                "prefixes": [k.prefix for k in keys],
                "because": because,
            },
        )
    return [k.prefix for k in keys]
