"""Institutions, users, keys: what a workspace owner and the gateway rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from finsandbox.access import (
    authenticate,
    check_login,
    create_institution,
    create_key,
    create_user,
    key_state,
    list_keys,
    revoke_key,
)
from finsandbox.errors import AuthenticationFailed, Conflict, InvalidRequest
from finsandbox.programme import add_member, create_workspace
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, User


def _bank_workspace(s):  # type: ignore[no-untyped-def]
    bank = create_institution(s, name="Bank A", kind="bank", actor="t")
    ws = create_workspace(s, slug="ws-a", name="A", theme="anti_fraud", bank=bank, actor="t")
    return bank, ws


def test_password_is_hashed_with_argon2_and_checked(db: str) -> None:
    with session_scope(write=True) as s:
        bank, _ = _bank_workspace(s)
        user = create_user(
            s,
            email="Ann@Bank.example",
            display_name="Ann",
            institution=bank,
            password="long-enough-pw",
            actor="t",
        )
        assert user.password_hash.startswith("$argon2id$")
        assert "long-enough-pw" not in user.password_hash
        assert user.email == "ann@bank.example" and user.role == "participant"
    with session_scope() as s:
        assert check_login(s, "ann@bank.example", "long-enough-pw").display_name == "Ann"
        with pytest.raises(AuthenticationFailed, match="wrong email or password"):
            check_login(s, "ann@bank.example", "wrong-password")
        with pytest.raises(AuthenticationFailed, match="wrong email or password"):
            check_login(s, "nobody@bank.example", "long-enough-pw")


def test_password_hashes_meet_owasp_minimums_and_old_ones_are_upgraded(db: str) -> None:
    """argon2id with at least 19 MiB, 2 passes (OWASP); a hash made with other parameters still
    signs in and is rehashed with the current ones."""
    from argon2 import PasswordHasher
    from argon2.low_level import Type
    from argon2.profiles import get_default_parameters

    with session_scope(write=True) as s:
        bank, _ = _bank_workspace(s)
        user = create_user(
            s,
            email="bo@bank.example",
            display_name="Bo",
            institution=bank,
            password="long-enough-pw",
            actor="t",
        )
        params = user.password_hash.split("$")[3]
        fields = dict(kv.split("=") for kv in params.split(","))
        assert int(fields["m"]) >= 19 * 1024 and int(fields["t"]) >= 2 and int(fields["p"]) >= 1
        assert get_default_parameters().type == Type.ID
        user.password_hash = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(
            "long-enough-pw"
        )
    with session_scope(write=True) as s:
        assert check_login(s, "bo@bank.example", "long-enough-pw").email == "bo@bank.example"
    with session_scope() as s:
        upgraded = s.scalars(select(User).where(User.email == "bo@bank.example")).one().password_hash
        assert ",".join(upgraded.split("$")[3].split(",")) == params


def test_bad_user_input_is_named(db: str) -> None:
    with session_scope(write=True) as s:
        bank, _ = _bank_workspace(s)
        with pytest.raises(InvalidRequest, match="not an email"):
            create_user(
                s, email="nope", display_name="x", institution=bank, password="long-enough-pw", actor="t"
            )
        with pytest.raises(InvalidRequest, match="at least 10"):
            create_user(
                s, email="a@b.example", display_name="x", institution=bank, password="short", actor="t"
            )
        with pytest.raises(InvalidRequest, match="unknown institution kind"):
            create_institution(s, name="X", kind="hedge_fund", actor="t")
        with pytest.raises(Conflict, match="already exists"):
            create_institution(s, name="Bank A", kind="bank", actor="t")


def test_supervisors_cannot_be_workspace_members(db: str) -> None:
    with session_scope(write=True) as s:
        _, ws = _bank_workspace(s)
        reg = create_institution(s, name="Regulator", kind="supervisor", actor="t")
        sup = create_user(
            s,
            email="sup@reg.example",
            display_name="S",
            institution=reg,
            password="long-enough-pw",
            actor="t",
        )
        assert sup.role == "supervisor"
        with pytest.raises(InvalidRequest, match="only bank and tech-partner users"):
            add_member(s, ws, sup, role="viewer", actor="t")


def test_key_is_shown_once_stored_hashed_and_authenticates(db: str) -> None:
    with session_scope(write=True) as s:
        _, ws = _bank_workspace(s)
        new = create_key(s, ws, name="app", actor="t", rpm_limit=10)
        secret, prefix = new.secret, new.key.prefix
    assert secret.startswith(prefix + "_")
    with session_scope() as s:
        stored = s.scalars(select(ApiKey)).one()
        assert stored.key_hash != secret and secret not in stored.key_hash
        assert authenticate(s, secret).prefix == prefix
        with pytest.raises(AuthenticationFailed, match="not valid"):
            authenticate(s, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
        with pytest.raises(AuthenticationFailed, match="no API key"):
            authenticate(s, None)
        ledger_text = " ".join(e.payload for e in s.scalars(select(LedgerEntry)))
        assert "key.created" in {e.kind for e in s.scalars(select(LedgerEntry))}
        assert secret not in ledger_text and prefix in ledger_text


def test_revoked_and_expired_keys_are_refused_with_their_reason(db: str) -> None:
    with session_scope(write=True) as s:
        _, ws = _bank_workspace(s)
        revoked = create_key(s, ws, name="r", actor="t")
        expiring = create_key(s, ws, name="e", actor="t", expires_at=datetime.now(UTC) + timedelta(days=1))
        revoke_key(s, revoked.key, actor="t")
        with pytest.raises(InvalidRequest, match="already revoked"):
            revoke_key(s, revoked.key, actor="t")
        expiring.key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with session_scope() as s:
        with pytest.raises(AuthenticationFailed, match="revoked") as exc:
            authenticate(s, revoked.secret)
        assert exc.value.code == "revoked_api_key"
        with pytest.raises(AuthenticationFailed, match="expired"):
            authenticate(s, expiring.secret)
        states = {k.name: key_state(k) for k in list_keys(s, s.merge(expiring.key).workspace)}
        assert states == {"r": "revoked", "e": "expired"}


def test_key_limits_and_expiry_are_validated(db: str) -> None:
    with session_scope(write=True) as s:
        _, ws = _bank_workspace(s)
        with pytest.raises(InvalidRequest, match="rpm_limit must be a positive"):
            create_key(s, ws, name="x", actor="t", rpm_limit=0)
        with pytest.raises(InvalidRequest, match="in the past"):
            create_key(s, ws, name="x", actor="t", expires_at=datetime.now(UTC) - timedelta(days=1))
        with pytest.raises(InvalidRequest, match="needs a name"):
            create_key(s, ws, name="  ", actor="t")
