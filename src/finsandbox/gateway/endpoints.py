"""Endpoints: the named model routes of a workspace, as the gateway routes to them.

The programme creates and lists endpoints through these queries too, so a route the gateway can
serve and an endpoint a workspace shows are the same rows.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox.errors import NotFound
from finsandbox.store.models import Endpoint


def list_endpoints(session: Session, workspace_id: str) -> list[Endpoint]:
    """The workspace's enabled endpoints, by name."""
    return list(
        session.scalars(
            select(Endpoint)
            .where(Endpoint.workspace_id == workspace_id, Endpoint.enabled.is_(True))
            .order_by(Endpoint.name)
        )
    )


def get_endpoint(session: Session, workspace_id: str, name: str) -> Endpoint:
    """One enabled endpoint by name; NotFound (model_not_found) otherwise."""
    ep = session.scalars(
        select(Endpoint).where(
            Endpoint.workspace_id == workspace_id, Endpoint.name == name, Endpoint.enabled.is_(True)
        )
    ).first()
    if ep is None:
        raise NotFound(f"the model {name!r} does not exist in this workspace", code="model_not_found")
    return ep


__all__ = ["get_endpoint", "list_endpoints"]
