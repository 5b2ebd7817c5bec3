"""Institutions and users: who may sign in, and for whom they act."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_time,
    hash_password,
    needs_rehash,
    verify_password,
)
from finsandbox.access.roles import INSTITUTION_KINDS, ROLE_FOR_KIND
from finsandbox.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from finsandbox.store.models import Institution, User

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create_institution(session: Session, *, name: str, kind: str, actor: str) -> Institution:
    if kind not in INSTITUTION_KINDS:
        raise InvalidRequest(f"unknown institution kind {kind!r}; use one of {', '.join(INSTITUTION_KINDS)}")
    name = name.strip()
    if not name:
        raise InvalidRequest("an institution needs a name", param="name")
    if session.scalars(select(Institution).where(Institution.name == name)).first():
        raise Conflict(f"an institution named {name!r} already exists")
    inst = Institution(name=name, kind=kind)
    session.add(inst)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="institution.created",
        payload={"institution_id": inst.id, "name": name, "kind": kind},
    )
    return inst


def get_institution(session: Session, name: str) -> Institution:
    inst = session.scalars(select(Institution).where(Institution.name == name)).first()
    if inst is None:
        raise NotFound(f"no institution named {name!r}")
    return inst


def list_institutions(session: Session) -> list[Institution]:
    return list(session.scalars(select(Institution).order_by(Institution.name)))


def create_user(
    session: Session, *, email: str, display_name: str, institution: Institution, password: str, actor: str
) -> User:
    """Create a user whose programme role follows from the institution's kind."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidRequest(f"{email!r} is not an email address", param="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", param="password"
        )
    if session.scalars(select(User).where(User.email == email)).first():
        raise Conflict(f"a user with email {email!r} already exists")
    user = User(
        email=email,
        display_name=display_name.strip() or email,
        institution_id=institution.id,
        role=ROLE_FOR_KIND[institution.kind],
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    ledger.append(
        session,
        actor=actor,
        kind="user.created",
        payload={"user_id": user.id, "email": email, "institution_id": institution.id, "role": user.role},
    )
    return user


def get_user(session: Session, email: str) -> User:
    user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"no user with email {email!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def check_login(session: Session, email: str, password: str) -> User:
    """The user for these credentials; the same message whether the email or the password is wrong."""
    user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        burn_time(password)
        raise AuthenticationFailed("wrong email or password", code="invalid_credentials")
    if not verify_password(user.password_hash, password) or not user.is_active:
        raise AuthenticationFailed("wrong email or password", code="invalid_credentials")
    if needs_rehash(user.password_hash):  # parameters changed since it was set: upgrade it now
        user.password_hash = hash_password(password)
    return user
