"""The programme commands as a regulator and a bank type them: cohorts, applications, lifecycle state."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from finsandbox import cli
from finsandbox.cli import console
from finsandbox.errors import NotFound, PermissionDenied
from tests.programme.helpers import ALICE, BOB, GINA, SAM, SUE, make_people

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(db: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setenv("FINSANDBOX_ACTOR", "cli-test")
    monkeypatch.setattr(console, "width", 250)
    make_people()
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli.app, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


SCORES = ["--score", "innovation=4", "--score", "technical_sophistication=3"]
SCORES += ["--score", "industry_contribution=4", "--score", "fair_use=5"]


def test_a_cohort_from_application_to_admission(invoke: Invoke) -> None:
    out = invoke("cohort", "create", "2026 intake", "--theme", "anti_fraud", "--as", SAM).output
    assert "cohort 2026 intake created, open" in out
    invoke("cohort", "close", "2026 intake", "--as", SAM)
    invoke("cohort", "open", "2026 intake", "--as", SAM)
    app_id = invoke(
        "application", "submit", "--as", ALICE, "--cohort", "2026 intake", "--title", "Fraud triage",
        "--theme", "anti_fraud", "--approach", "rag", "--risk", "medium",
        "--description", "Summarises alerts.", "--data-used", "Synthetic alerts.",
        "--benefit", "Faster triage.",
        "--partner", "Gamma Tech", "--member", GINA, "--quiet",
    ).output.strip()  # fmt: skip
    assert len(app_id) == 32
    for who in (SAM, SUE):
        out = invoke("application", "assess", app_id[:10], "--as", who, *SCORES).output
        assert "weighted score 3.95" in out
    assert "2 assessment(s) (enough), overall 3.95" in out
    slug = invoke("application", "admit", app_id, "--as", SAM).output.strip().splitlines()[-1]
    assert slug == "fraud-triage"
    shown = json.loads(invoke("application", "show", app_id, "--as", GINA, "--json").output)
    assert shown["state"] == "admitted" and shown["workspace"] == slug and shown["assessment"] is None
    listed = invoke("application", "list", "--as", BOB, "--json").output
    assert json.loads(listed) == []
    state = json.loads(invoke("programme", "workspace", "state", slug, "--as", ALICE, "--json").output)
    assert state["state"] == "admitted" and "withdrawn" in state["next_states"]
    out = invoke(
        "programme", "workspace", "state", slug, "--to", "concluded", "--note", "exit", "--as", SAM
    ).output
    assert "admitted -> concluded" in out
    out = invoke("cohort", "show", "2026 intake", "--as", ALICE).output
    assert "Fraud triage" in out and "concluded" in out
    rows = json.loads(invoke("cohort", "list", "--json").output)
    assert rows[0]["applications"] == 1 and rows[0]["use_cases"] == 1


def test_the_cli_applies_the_same_authorisation(invoke: Invoke) -> None:
    invoke("cohort", "create", "c1", "--as", SAM)
    result = invoke("cohort", "close", "c1", "--as", ALICE, ok=False)
    assert isinstance(result.exception, PermissionDenied)
    app_id = invoke(
        "application", "submit", "--as", ALICE, "--cohort", "c1", "--title", "Complaints bot",
        "--theme", "customer_service", "--approach", "prompting", "--risk", "low",
        "--description", "d", "--data-used", "d", "--benefit", "b", "--quiet",
    ).output.strip()  # fmt: skip
    result = invoke("application", "show", app_id, "--as", BOB, ok=False)
    assert isinstance(result.exception, NotFound)
    result = invoke("application", "decline", app_id, "--as", ALICE, "--reasons", "no", ok=False)
    assert isinstance(result.exception, PermissionDenied)
    invoke("application", "decline", app_id, "--as", SAM, "--reasons", "Out of scope.")
    assert "declined" in invoke("application", "list", "--as", ALICE).output
    assert "fair_use" in invoke("application", "rubric").output
