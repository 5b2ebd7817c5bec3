"""The one scheme for bearer credentials: workspace API keys (`fsk_…`) and personal tokens (`fsu_…`).

A credential reads `<scheme>_<8 hex digits>_<43 url-safe characters>`. Its first two parts are the
prefix, stored and shown so people can tell credentials apart; the whole is stored only as its
SHA-256. Credentials carry 256 bits of randomness, so a fast hash is as safe here as argon2 (which
is for low-entropy passwords) and keeps authentication off the gateway's critical path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "fsk"
TOKEN_SCHEME = "fsu"


@dataclass(frozen=True)
class Minted:
    """A new credential: the secret exists only here and is never stored."""

    prefix: str
    secret: str
    digest: str


def mint(scheme: str) -> Minted:
    """A fresh credential of `scheme`."""
    prefix = f"{scheme}_{secrets.token_hex(4)}"
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return Minted(prefix=prefix, secret=secret, digest=digest(secret))


def digest(secret: str) -> str:
    """What is stored for a credential: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def prefix_of(secret: str, scheme: str) -> str | None:
    """The visible prefix of a well-formed credential of `scheme`, or None for anything else."""
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != scheme:
        return None
    return f"{parts[0]}_{parts[1]}"


def same_digest(stored_digest: str, presented_digest: str) -> bool:
    """Whether two digests are equal, in constant time."""
    return hmac.compare_digest(stored_digest, presented_digest)


def matches(stored_digest: str, secret: str) -> bool:
    """Whether `secret` is the credential stored as `stored_digest`, in constant time."""
    return same_digest(stored_digest, digest(secret))


__all__ = ["KEY_SCHEME", "TOKEN_SCHEME", "Minted", "digest", "matches", "mint", "prefix_of", "same_digest"]
