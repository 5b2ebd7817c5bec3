"""Password hashing with argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

The library's defaults (64 MiB, 3 passes, 4 lanes) took 0.8-2 s per sign-in on a small shared
server; OWASP's first configuration is about 0.1 s there and still memory-hard. Hashes made with
other parameters keep verifying and are upgraded at the next successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_DUMMY = _hasher.hash("not-a-password: equalises the time of unknown emails")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; never raises for a wrong password or a corrupt hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    """Verify against a dummy hash, so an unknown email takes as long as a wrong password."""
    verify_password(_DUMMY, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
