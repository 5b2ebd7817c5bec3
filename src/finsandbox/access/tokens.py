"""Personal API tokens: how a person (not a workspace key) calls the JSON API.

Shown once, stored as SHA-256 with a visible `fsu_` prefix, revocable at once; the format and
hashing are `finsandbox.access.credentials`, shared with workspace keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.credentials import TOKEN_SCHEME, matches, mint, prefix_of
from finsandbox.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from finsandbox.store.models import User, UserToken

SCOPES = ("read", "write")
"""read: every GET of the JSON API; write: everything that changes something (launching trials too)."""


@dataclass(frozen=True)
class NewToken:
    """A freshly created token; `secret` exists only here and is never stored."""

    token: UserToken
    secret: str


def create_token(
    session: Session, user: User, *, name: str, actor: str, scopes: Sequence[str] = SCOPES
) -> NewToken:
    """Issue a token for `user` with the given scopes and record it in the ledger (never the secret)."""
    name = name.strip()
    if not name:
        raise InvalidRequest("a token needs a name", param="name")
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        problem = f"unknown scope {', '.join(unknown)}" if unknown else "no scope given"
        raise InvalidRequest(f"{problem}; use {' and/or '.join(SCOPES)}", param="scopes")
    if not user.is_active:
        raise InvalidRequest(f"{user.email} is disabled; enable the account before issuing a token")
    minted = mint(TOKEN_SCHEME)
    prefix, secret = minted.prefix, minted.secret
    token = UserToken(
        user_id=user.id, name=name, prefix=prefix, token_hash=minted.digest, created_by=actor, scopes=wanted
    )
    session.add(token)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="user.token_created",
        payload={"user_id": user.id, "email": user.email, "prefix": prefix, "name": name, "scopes": wanted},
    )
    return NewToken(token=token, secret=secret)


def list_tokens(session: Session, user: User) -> list[UserToken]:
    return list(
        session.scalars(select(UserToken).where(UserToken.user_id == user.id).order_by(UserToken.created_at))
    )


def revoke_token(session: Session, prefix: str, *, actor: str) -> UserToken:
    token = session.scalars(select(UserToken).where(UserToken.prefix == prefix)).first()
    if token is None:
        raise NotFound(f"no token with prefix {prefix!r}")
    if token.revoked_at is not None:
        raise InvalidRequest(f"token {prefix} was already revoked at {token.revoked_at.isoformat()}")
    token.revoked_at = datetime.now(UTC)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="user.token_revoked",
        payload={"user_id": token.user_id, "prefix": prefix},
    )
    return token


def token_scopes(token: UserToken) -> tuple[str, ...]:
    return tuple(token.scopes) if token.scopes is not None else SCOPES


def authenticate_token(session: Session, secret: str | None, *, scope: str | None = None) -> User:
    """The active user behind a presented token, or AuthenticationFailed saying why not; with `scope`,
    PermissionDenied when the token was not issued for it."""
    if not secret:
        raise AuthenticationFailed(
            "no token given: send your personal token as 'Authorization: Bearer fsu_…'", code="missing_token"
        )
    prefix = prefix_of(secret, TOKEN_SCHEME)
    if prefix is None:
        raise AuthenticationFailed(
            "this is not a personal API token (they start with fsu_); create one with "
            "`finsandbox programme user token EMAIL`",
            code="invalid_token",
        )
    token = session.scalars(select(UserToken).where(UserToken.prefix == prefix)).first()
    if token is None or not matches(token.token_hash, secret):
        raise AuthenticationFailed("the token is not valid", code="invalid_token")
    if token.revoked_at is not None:
        raise AuthenticationFailed(f"the token {prefix} has been revoked", code="revoked_token")
    if not token.user.is_active:
        raise AuthenticationFailed(f"the account {token.user.email} is disabled", code="inactive_user")
    if scope is not None and scope not in token_scopes(token):
        raise PermissionDenied(
            f"the token {prefix} may not {scope} (its scopes: {', '.join(token_scopes(token))}); "
            f"issue one with --scope {scope}"
        )
    return token.user
