"""Who is calling and in which transaction: a personal token (`Authorization: Bearer fsu_…`) resolved to
a user inside the request's session, so authorisation and the work share one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from finsandbox.access.tokens import authenticate_token
from finsandbox.gateway.schemas import decode_json
from finsandbox.store import session_scope
from finsandbox.store.models import User


async def checked_json(request: Request) -> None:
    """Refuse a JSON body nested too deep or holding an unpaired surrogate with a 400 before any
    handler stores it (such text cannot be encoded, hashed into the ledger or saved)."""
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        body = await request.body()
        if body.strip():
            decode_json(body)


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PersonalToken",
    description="A personal API token (fsu_…) from `finsandbox programme user token EMAIL`.",
)


@dataclass
class Caller:
    session: Session
    user: User

    @property
    def actor(self) -> str:
        return f"user:{self.user.email}"


def _caller(write: bool) -> Callable[..., Iterator[Caller]]:
    def dependency(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Iterator[Caller]:
        # Commits when the route returns, rolls back when it raises: nothing half-written.
        with session_scope(write=write) as session:
            user = authenticate_token(
                session, credentials.credentials if credentials else None, scope="write" if write else "read"
            )
            yield Caller(session, user)

    return dependency


# scope="function": the transaction ends before the response is sent, so a client is never told
# "done" about a write that has not committed (FastAPI's default ends yield-dependencies after).
Reader = Annotated[Caller, Depends(_caller(False), scope="function")]
"""A caller whose request only reads."""

Writer = Annotated[Caller, Depends(_caller(True), scope="function")]
"""A caller whose request writes (rows and ledger entries, in one transaction)."""
