"""The checker guard as a control in the scorecard: against a model that alters every amount (a
seeded defect the deterministic guards cannot see), the checker blocks the wrong answers; the
inherent view still shows the defect, and the residual view credits the checker for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from finsandbox.evals import trials
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.gateway.backends.defect import inject
from finsandbox.guards import shipped_policy_text
from finsandbox.store import session_scope
from finsandbox.store.models import Workspace
from finsandbox.supervision.framework import load_framework
from finsandbox.supervision.scorecards import compute_for_trial
from finsandbox.supervision.sensitivity import defect_endpoint
from finsandbox.testing import processes
from finsandbox.testing.reference_model import known_answers
from finsandbox.usecases import suite_path
from tests.conftest import make_programme

SUITE = str(suite_path("customer_service"))
ALL_PASS = {"grounded": "pass", "scope": "pass", "personal_data": "pass", "tone": "pass"}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[processes.Process, processes.Process]]:
    with processes.reference_model([SUITE]) as ref, processes.upstream() as checker:
        yield ref, checker


def _policy(with_checker: bool) -> str:
    text = shipped_policy_text()
    if with_checker:
        text += "  - guard: checker\n    settings: {endpoint: checker, budget_ms: 10000}\n"
    return text


def _trial(endpoint: str) -> dict:
    with session_scope(write=True) as s:
        trial = trials.create_trial(
            s,
            TrialConfig(
                workspace="ws-checker",
                endpoint=endpoint,
                suites=[SUITE],
                recipes=["product_qa"],
                max_cases=6,
                max_variants=0,
                concurrency=2,
            ),
            actor="test",
        )
        trial_id = trial.id
    done = asyncio.run(trials.run_trial(trial_id, actor="test"))
    assert done.status == "completed", done.error
    with session_scope() as s:
        return compute_for_trial(s, trials.get_trial(s, trial_id), load_framework())


def test_the_checker_catches_altered_amounts_that_the_deterministic_guards_miss(db: str, servers) -> None:  # type: ignore[no-untyped-def]
    from finsandbox.programme import add_endpoint, set_guard_policy

    ref, checker = servers
    make_programme(
        slug="ws-checker",
        endpoint="ref",
        backend="openai",
        config={"base_url": f"{ref.url}/v1", "model": "m"},
    )
    with session_scope(write=True) as s:
        ws = s.scalars(select(Workspace).where(Workspace.slug == "ws-checker")).one()
        add_endpoint(
            s, ws, name="checker", backend="openai",
            config={"base_url": f"{checker.url}/v1", "model": "double"}, actor="test",
        )  # fmt: skip
        defective = defect_endpoint(s, "ws-checker", "ref", "numbers_altered", "test")
        set_guard_policy(s, ws, _policy(with_checker=False), actor="test")
    # The double fails `grounded` for exactly the answers the defect altered, and passes the rest.
    rules = []
    for known in known_answers([SUITE]):
        altered = inject("numbers_altered", [], known.answer)
        if altered != known.answer:
            rules.append({"contains": altered, "reply": json.dumps({**ALL_PASS, "grounded": "fail"})})
    httpx.post(f"{checker.url}/_control", json={"clear": True, "rules": rules, "reply": json.dumps(ALL_PASS)})

    # The default (deterministic) guards: the defect reaches the caller untouched.
    plain = _trial(defective)["principles"]["reliability_accuracy"]
    assert plain["inherent"]["judged"] > 0
    assert plain["controls"]["model_failures"] > 0
    assert plain["controls"]["caught"] == 0
    assert plain["residual"]["pass_rate"] == plain["inherent"]["pass_rate"]

    with session_scope(write=True) as s:
        ws = s.scalars(select(Workspace).where(Workspace.slug == "ws-checker")).one()
        set_guard_policy(s, ws, _policy(with_checker=True), actor="test")
    card = _trial(defective)
    checked = card["principles"]["reliability_accuracy"]
    # Inherent: the model's own answers still show the defect, as before.
    assert checked["inherent"]["pass_rate"] == plain["inherent"]["pass_rate"]
    # Residual: the checker blocked the altered answers, and is credited for them by name.
    controls = checked["controls"]
    assert controls["caught"] > 0
    assert controls["by_guard"].get("checker") == controls["caught"]
    assert checked["residual"]["pass_rate"] > checked["inherent"]["pass_rate"]
    assert "checker" in card["guards"]["by_guard"]
    # The clean-answer principles the checker passed are not blocked: nothing harmed by it.
    assert controls["harmed"] == 0
