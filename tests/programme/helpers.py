"""A small programme for lifecycle tests: two banks, two tech partners, supervisors, an operator and an
open cohort; people are made once per call and found again by email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from finsandbox.access import create_institution, create_user, get_user
from finsandbox.programme import applications as apps
from finsandbox.programme.cohorts import create_cohort
from finsandbox.store import session_scope
from finsandbox.store.models import Institution, User

PASSWORD = "correct-horse-1"
COHORT = "2026 intake"

PEOPLE = {
    # email: (institution, kind)
    "alice@alpha.example.com": ("Alpha Bank", "bank"),
    "adam@alpha.example.com": ("Alpha Bank", "bank"),
    "bob@beta.example.com": ("Beta Bank", "bank"),
    "gina@gamma.example.com": ("Gamma Tech", "tech_partner"),
    "dan@delta.example.com": ("Delta Tech", "tech_partner"),
    "sam@regulator.example.com": ("Regulator", "supervisor"),
    "sue@regulator.example.com": ("Regulator", "supervisor"),
    "olive@operator.example.com": ("Operator", "operator"),
}
ALICE, ADAM, BOB, GINA, DAN, SAM, SUE, OLIVE = PEOPLE


def _institution(s: Any, name: str, kind: str) -> Institution:
    inst = s.scalars(select(Institution).where(Institution.name == name)).first()
    return inst or create_institution(s, name=name, kind=kind, actor="test")


def make_people() -> None:
    with session_scope(write=True) as s:
        for email, (inst, kind) in PEOPLE.items():
            if s.scalars(select(User).where(User.email == email)).first() is None:
                create_user(
                    s,
                    email=email,
                    display_name=email.split("@")[0],
                    institution=_institution(s, inst, kind),
                    password=PASSWORD,
                    actor="test",
                )


def make_cohort(name: str = COHORT, themes: list[str] | None = None, status: str = "open") -> str:
    with session_scope(write=True) as s:
        return create_cohort(s, name=name, themes=themes or [], actor="test", status=status).id


FORM = {
    "title": "Fraud triage assistant",
    "theme": "anti_fraud",
    "description": "Summarises alerts for fraud analysts and suggests the next step.",
    "approach": "rag",
    "data_used": "Synthetic card transactions and alert notes.",
    "expected_benefit": "Halve the time to triage an alert.",
    "risk_materiality": "medium",
    "risk_notes": "Analysts decide; the model only drafts.",
}


def submit(email: str = ALICE, cohort: str = COHORT, **overrides: Any) -> str:
    form = {**FORM, "tech_partner": "Gamma Tech", "members": [GINA], **overrides}
    with session_scope(write=True) as s:
        return apps.submit_application(s, get_user(s, email), cohort=cohort, **form).id


GOOD = {"innovation": 4, "technical_sophistication": 3, "industry_contribution": 4, "fair_use": 5}


def assess(application_id: str, email: str, scores: dict[str, int] | None = None, comment: str = "") -> float:
    with session_scope(write=True) as s:
        return apps.assess(
            s, get_user(s, email), application_id, scores=scores or GOOD, comment=comment
        ).weighted


def admit(application_id: str, email: str = SAM, **kw: Any) -> str:
    with session_scope(write=True) as s:
        return apps.admit(s, get_user(s, email), application_id, **kw).slug


@dataclass
class Admitted:
    application_id: str
    workspace: str


def admitted_use_case(**overrides: Any) -> Admitted:
    """Alpha Bank's application with Gamma Tech, assessed by two supervisors and admitted."""
    make_people()
    app_id = submit(**overrides)
    assess(app_id, SAM)
    assess(app_id, SUE)
    return Admitted(app_id, admit(app_id))


def user(s: Any, email: str) -> User:
    return get_user(s, email)
