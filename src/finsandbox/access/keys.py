"""Virtual API keys: shown once, stored as SHA-256 with a visible prefix, expiring, revocable.

The format and hashing are `finsandbox.access.credentials`, shared with personal tokens; the
gateway checks a presented key with `key_prefix`, `key_digest` and `check_key`, the same checks
in the same order as `authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.closure import CLOSED_STATES, closed_error, ensure_open
from finsandbox.access.credentials import KEY_SCHEME, digest, mint, prefix_of, same_digest
from finsandbox.errors import AuthenticationFailed, InvalidRequest, NotFound
from finsandbox.store.models import ApiKey, Workspace


@dataclass(frozen=True)
class NewKey:
    """A freshly created key; `secret` exists only here and is never stored."""

    key: ApiKey
    secret: str


class StoredKey(Protocol):
    """What authentication needs of a stored key: an ORM `ApiKey` or a Core row of its table."""

    key_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None


class KeyWorkspace(Protocol):
    """The key's workspace as far as authentication cares: its slug and lifecycle state."""

    slug: str
    status: str


def key_digest(secret: str) -> str:
    """The stored form of a secret (the credential scheme's SHA-256)."""
    return digest(secret)


def key_prefix(secret: str | None) -> str:
    """The visible prefix of a well-formed secret; refuses a missing or foreign one before any lookup."""
    if not secret:
        raise AuthenticationFailed(
            "no API key given: send it as 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    prefix = prefix_of(secret, KEY_SCHEME)
    if prefix is None:
        raise AuthenticationFailed("the API key is not a finsandbox key")
    return prefix


def check_key(key: StoredKey | None, prefix: str, digest: str, *, workspace: KeyWorkspace | None) -> None:
    """Refuse an unknown, wrong, closed, revoked or expired key, with the reason the caller may know."""
    if key is None or not same_digest(key.key_hash, digest):
        raise AuthenticationFailed("the API key is not valid")
    # Before the key's own state: closing a workspace also revokes its keys, and the caller should
    # learn why (the use case is closed), not merely that the key was revoked.
    if workspace is not None and workspace.status in CLOSED_STATES:
        raise closed_error(workspace.slug, workspace.status, "call models")
    if key.revoked_at is not None:
        raise AuthenticationFailed(f"the API key {prefix} has been revoked", code="revoked_api_key")
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        raise AuthenticationFailed(f"the API key {prefix} has expired", code="expired_api_key")


def _validate_limit(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise InvalidRequest(f"{name} must be a positive number (or omitted for no limit)", param=name)


def create_key(
    session: Session,
    workspace: Workspace,
    *,
    name: str,
    actor: str,
    expires_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    token_budget: int | None = None,
) -> NewKey:
    """Create a key for one workspace and record it in the ledger (never the secret)."""
    ensure_open(workspace, "create keys")
    if not name.strip():
        raise InvalidRequest("a key needs a name", param="name")
    for field, value in (("rpm_limit", rpm_limit), ("tpm_limit", tpm_limit), ("token_budget", token_budget)):
        _validate_limit(field, value)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise InvalidRequest("the expiry date is in the past", param="expires_at")
    minted = mint(KEY_SCHEME)
    prefix, secret = minted.prefix, minted.secret
    key = ApiKey(
        workspace_id=workspace.id,
        name=name.strip(),
        prefix=prefix,
        key_hash=minted.digest,
        created_by=actor,
        expires_at=expires_at,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        token_budget=token_budget,
    )
    session.add(key)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="key.created",
        workspace_id=workspace.id,
        payload={
            "key_id": key.id,
            "prefix": prefix,
            "name": key.name,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "rpm_limit": rpm_limit,
            "tpm_limit": tpm_limit,
            "token_budget": token_budget,
        },
    )
    return NewKey(key=key, secret=secret)


def list_keys(session: Session, workspace: Workspace) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.workspace_id == workspace.id).order_by(ApiKey.created_at))
    )


def get_key(session: Session, prefix: str) -> ApiKey:
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None:
        raise NotFound(f"no key with prefix {prefix!r}")
    return key


def revoke_key(session: Session, key: ApiKey, *, actor: str) -> ApiKey:
    """Revoke at once; every server process refuses the key from its next request."""
    if key.revoked_at is not None:
        raise InvalidRequest(f"key {key.prefix} was already revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = datetime.now(UTC)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="key.revoked",
        workspace_id=key.workspace_id,
        payload={"key_id": key.id, "prefix": key.prefix},
    )
    return key


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    """active, expired or revoked."""
    now = now or datetime.now(UTC)
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def authenticate(session: Session, secret: str | None) -> ApiKey:
    """Resolve a presented secret to its key, or raise with the reason the caller may know."""
    prefix = key_prefix(secret)
    assert secret is not None
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    check_key(key, prefix, key_digest(secret), workspace=key.workspace if key else None)
    assert key is not None
    return key
