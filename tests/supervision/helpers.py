"""Hand-made programmes and trials for supervision tests: results and ledger entries written directly,
so scorecard arithmetic can be checked against numbers chosen by hand (no model, no upstream)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from finsandbox import ledger
from finsandbox.access import create_institution, create_user
from finsandbox.programme import add_member, create_workspace
from finsandbox.store import session_scope
from finsandbox.store.models import CaseResult, Institution, Trial, User

PASSWORD = "correct-horse-1"
SUPERVISOR = "sam@regulator.example.com"
OPERATOR = "olive@operator.example.com"


def _institution(s: Any, name: str, kind: str) -> Institution:
    inst = s.scalars(select(Institution).where(Institution.name == name)).first()
    return inst or create_institution(s, name=name, kind=kind, actor="test")


def _user(s: Any, email: str, inst: Institution) -> User:
    user = s.scalars(select(User).where(User.email == email)).first()
    return user or create_user(
        s, email=email, display_name=email.split("@")[0], institution=inst, password=PASSWORD, actor="test"
    )


def make_supervisor(email: str = SUPERVISOR) -> str:
    with session_scope(write=True) as s:
        _user(s, email, _institution(s, "Regulator", "supervisor"))
    return email


def make_operator(email: str = OPERATOR) -> str:
    with session_scope(write=True) as s:
        _user(s, email, _institution(s, "Operator", "operator"))
    return email


def make_workspace(slug: str, bank: str, theme: str = "customer_service") -> tuple[str, str]:
    """(workspace id, member email) of a new workspace of `bank` with one owner."""
    with session_scope(write=True) as s:
        inst = _institution(s, bank, "bank")
        ws = create_workspace(s, slug=slug, name=f"{slug} assistant", theme=theme, bank=inst, actor="test")
        email = f"owner@{slug}.example.com"
        add_member(s, ws, _user(s, email, inst), role="owner", actor="test")
        return ws.id, email


@dataclass
class Row:
    """One hand-made case result."""

    recipe: str
    passed: bool | None
    value: float = 1.0
    error: str | None = None
    guard_decisions: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    retrieved: bool = False


RECIPES = {
    "tiny/answers": {
        "theme": "customer_service",
        "principles": ["reliability_accuracy", "transparency_disclosure"],
    },
    "tiny/privacy": {"theme": "customer_service", "principles": ["data_privacy"]},
}


def make_trial(
    workspace_id: str,
    rows: list[Row],
    *,
    name: str = "hand-made trial",
    recipes: dict[str, dict[str, Any]] | None = None,
    model: str = "model-a",
    age_days: int = 0,
) -> str:
    """A completed trial with these results, each linked to its own gateway.chat ledger entry."""
    recipes = recipes or RECIPES
    with session_scope(write=True) as s:
        trial = Trial(
            workspace_id=workspace_id,
            name=name,
            config={"endpoint": "stub", "suites": [{"name": "tiny"}]},
            status="completed",
            created_by="test",
            created_at=datetime.now(UTC) - timedelta(days=age_days),
            total_cases=len(rows),
            done_cases=len(rows),
            summary={"recipes": {k: dict(v) for k, v in recipes.items()}},
        )
        s.add(trial)
        s.flush()
        for i, row in enumerate(rows):
            suite, recipe = row.recipe.split("/")
            item = f"{row.recipe}/c{i}"
            entry = ledger.append(
                s,
                actor="key:fsk_test",
                kind="gateway.chat",
                workspace_id=workspace_id,
                payload={
                    "trial": trial.id,
                    "case": item,
                    "model": model,
                    "status": row.status,
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                    "guard_decisions": row.guard_decisions,
                },
            )
            scores = (
                []
                if row.error
                else [
                    {
                        "scorer": "contains",
                        "value": row.value,
                        "passed": bool(row.passed),
                        "explanation": "hand-made",
                    }
                ]
            )
            s.add(
                CaseResult(
                    trial_id=trial.id,
                    item=item,
                    suite=suite,
                    recipe=recipe,
                    case_id=f"c{i}",
                    case={"id": f"c{i}", "input": f"question {i}"},
                    output=f"answer {i}",
                    evidence={
                        "ledger_seqs": [entry.seq],
                        "blocked": row.status == "blocked",
                        "guard_decisions": row.guard_decisions,
                        "retrieved": [{"id": "doc"}] if row.retrieved else [],
                    },
                    scores=scores,
                    passed=row.passed,
                    error=row.error,
                )
            )
        s.flush()
        return trial.id


def rows(recipe: str, passed: int, failed: int, **kw: Any) -> list[Row]:
    return [Row(recipe, True, 1.0, **kw) for _ in range(passed)] + [
        Row(recipe, False, 0.1 * (i % 5), **kw) for i in range(failed)
    ]


def user(s: Any, email: str) -> User:
    from finsandbox.access import get_user

    return get_user(s, email)
