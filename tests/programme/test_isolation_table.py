"""Isolation, exhaustively: every (role, resource, action) against the one table of rules in access/authz.py.

Expected outcomes: `ok` (allowed), `hidden` (NotFound: the thing is not even admitted to exist, so ids
and URLs cannot be probed) and `denied` (PermissionDenied: visible, but not yours to do). The world is
Alpha Bank's admitted use case, built with Gamma Tech, with a key, a trial, a scorecard, a review and
ledger entries; the people around it are:

    bank        alice, owner of the workspace (she applied)
    colleague   adam, also of Alpha Bank, not on the team
    other_bank  bob, of Beta Bank
    partner     gina, of Gamma Tech, on the team as developer
    outsider    dan, of Delta Tech, another tech partner
    supervisor  sam, of the regulator
    operator    olive, who runs the platform
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from finsandbox.access.authz import RULES, authorize
from finsandbox.errors import NotFound, PermissionDenied
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, Application, Assessment, Cohort, LedgerEntry, Review, Scorecard
from finsandbox.store.models import Job as JobRow
from finsandbox.store.models import Trial as TrialRow
from tests.programme.helpers import ADAM, ALICE, BOB, DAN, GINA, OLIVE, SAM, admitted_use_case, make_cohort

ROLES = {
    "bank": ALICE,
    "colleague": ADAM,
    "other_bank": BOB,
    "partner": GINA,
    "outsider": DAN,
    "supervisor": SAM,
    "operator": OLIVE,
}
ORDER = tuple(ROLES)


def _row(**by_role: str) -> dict[str, str]:
    """Outcomes by role; `rest` fills the roles not named."""
    rest = by_role.pop("rest", None)
    row = {role: by_role.get(role, rest) for role in ORDER}
    missing = [r for r, v in row.items() if v is None]
    assert not missing, f"no outcome for {missing}"
    return row  # type: ignore[return-value]


# What only the workspace's members and the regulator see; outsiders are told it does not exist.
def _inside(
    bank: str, partner: str, supervisor: str, operator: str, colleague: str = "hidden"
) -> dict[str, str]:
    return _row(
        bank=bank,
        partner=partner,
        supervisor=supervisor,
        operator=operator,
        colleague=colleague,
        rest="hidden",
    )


TABLE: dict[tuple[str, str], dict[str, str]] = {
    # --- the programme's cohorts: public to every signed-in person ---
    ("cohort", "cohort.view"): _row(rest="ok"),
    ("cohort", "cohort.manage"): _row(supervisor="ok", operator="ok", rest="denied"),
    ("cohort", "application.submit"): _row(bank="ok", colleague="ok", other_bank="ok", rest="denied"),
    ("cohort", "insights.view"): _row(supervisor="ok", rest="denied"),
    ("cohort", "cohort.dashboard"): _row(supervisor="ok", rest="denied"),
    # --- the application: the applying bank, its named partner, the regulator, the operator ---
    ("application", "application.view"): _row(
        bank="ok", colleague="ok", partner="ok", supervisor="ok", operator="ok", rest="hidden"
    ),
    ("application", "application.update"): _row(
        bank="ok", colleague="ok", partner="denied", supervisor="denied", operator="denied", rest="hidden"
    ),
    ("application", "application.withdraw"): _row(
        bank="ok", colleague="ok", partner="denied", supervisor="denied", operator="denied", rest="hidden"
    ),
    ("application", "application.assess"): _row(
        bank="denied", colleague="denied", partner="denied", supervisor="ok", operator="denied", rest="hidden"
    ),
    ("application", "application.decide"): _row(
        bank="denied", colleague="denied", partner="denied", supervisor="ok", operator="denied", rest="hidden"
    ),
    ("application", "assessment.view"): _row(
        bank="denied", colleague="denied", partner="denied", supervisor="ok", operator="denied", rest="hidden"
    ),
    ("assessment", "assessment.view"): _row(
        bank="denied", colleague="denied", partner="denied", supervisor="ok", operator="denied", rest="hidden"
    ),
    # --- the workspace and everything in it: members and the regulator only ---
    ("workspace", "workspace.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("workspace", "workspace.manage"): _inside(
        bank="ok", partner="denied", supervisor="denied", operator="ok"
    ),
    ("workspace", "workspace.withdraw"): _inside(
        bank="ok", partner="denied", supervisor="denied", operator="denied"
    ),
    ("workspace", "workspace.state"): _inside(
        bank="denied", partner="denied", supervisor="ok", operator="denied"
    ),
    ("workspace", "policy.edit"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "playground.use"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "dataset.upload"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "dataset.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("workspace", "dataset.delete"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "report.export"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("workspace", "bundle.export"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("key", "key.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="ok"),
    ("key", "key.manage"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("trial", "trial.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("trial", "trial.launch"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "finetune.run"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "job.submit"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("job", "job.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="ok"),
    ("job", "job.cancel"): _inside(bank="ok", partner="ok", supervisor="denied", operator="ok"),
    ("job", "job.resume"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("workspace", "job.allocation.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="ok"),
    ("workspace", "job.allocation.set"): _inside(
        bank="denied", partner="denied", supervisor="denied", operator="ok"
    ),
    ("scorecard", "scorecard.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("scorecard", "scorecard.build"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("scorecard", "review.open"): _inside(
        bank="denied", partner="denied", supervisor="ok", operator="denied"
    ),
    ("review", "review.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="denied"),
    ("review", "review.respond"): _inside(bank="ok", partner="ok", supervisor="denied", operator="denied"),
    ("review", "review.add_finding"): _inside(
        bank="denied", partner="denied", supervisor="ok", operator="denied"
    ),
    ("review", "review.add_action"): _inside(
        bank="denied", partner="denied", supervisor="ok", operator="denied"
    ),
    ("review", "review.resolve"): _inside(
        bank="denied", partner="denied", supervisor="ok", operator="denied"
    ),
    ("review", "review.decide"): _inside(bank="denied", partner="denied", supervisor="ok", operator="denied"),
    ("ledger_entry", "ledger.view"): _inside(bank="ok", partner="ok", supervisor="ok", operator="ok"),
    # --- the programme as a whole ---
    ("programme", "usage.view"): _row(supervisor="ok", operator="ok", rest="denied"),
    ("programme", "ledger.verify"): _row(supervisor="ok", operator="ok", rest="denied"),
    # --- programme business in the ledger (institutions, applications): the regulator and the operator ---
    ("programme_entry", "ledger.view"): _row(supervisor="ok", operator="ok", rest="hidden"),
}

CASES = [
    pytest.param(role, resource, action, expected[role], id=f"{role}-{resource}-{action}")
    for (resource, action), expected in TABLE.items()
    for role in ORDER
]


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[dict[str, str]]:
    """Built once for the whole table (the rows only read); emptied afterwards like `db` does."""
    from finsandbox.access import create_key
    from finsandbox.programme.workspaces import get_workspace
    from finsandbox.supervision import reviews as rv
    from finsandbox.supervision import scorecards as sc
    from tests.conftest import empty_tables
    from tests.supervision.helpers import make_trial, rows

    make_cohort()
    case = admitted_use_case()
    with session_scope(write=True) as s:
        ws = get_workspace(s, case.workspace)
        ws_id = ws.id
        key = create_key(s, ws, name="app", actor="test").key
        key_id = key.id
        job = JobRow(workspace_id=ws_id, kind="batch_inference", params={}, estimate={}, created_by="test")
        s.add(job)
        s.flush()
        job_id = job.id
    trial_id = make_trial(ws_id, rows("tiny/answers", 2, 1))
    with session_scope(write=True) as s:
        from tests.programme.helpers import user

        card, _ = sc.build_scorecard(s, trial_id, actor="test")
        review = rv.open_review(s, user(s, SAM), card.id)
        ids = {
            "cohort": s.scalars(select(Cohort.id)).one(),
            "application": case.application_id,
            "assessment": s.scalars(select(Assessment.id)).first(),
            "workspace": ws_id,
            "key": key_id,
            "job": job_id,
            "trial": trial_id,
            "scorecard": card.id,
            "review": review.id,
            "ledger_entry": str(
                s.scalars(select(LedgerEntry.seq).where(LedgerEntry.workspace_id == ws_id)).first()
            ),
            "programme_entry": str(
                s.scalars(select(LedgerEntry.seq).where(LedgerEntry.kind == "institution.created")).first()
            ),
        }
    yield ids
    empty_tables(database_url)


MODELS: dict[str, Any] = {
    "cohort": Cohort,
    "application": Application,
    "assessment": Assessment,
    "key": ApiKey,
    "job": JobRow,
    "trial": TrialRow,
    "scorecard": Scorecard,
    "review": Review,
}


def _load(s: Any, world: dict[str, str], resource: str) -> Any:
    from finsandbox.store.models import Workspace

    if resource == "programme":
        return None
    if resource == "workspace":
        return s.get(Workspace, world["workspace"])
    if resource in ("ledger_entry", "programme_entry"):
        return s.get(LedgerEntry, int(world[resource]))
    return s.get(MODELS[resource], world[resource])


@pytest.mark.parametrize(("role", "resource", "action", "expected"), CASES)
def test_isolation(world: dict[str, str], role: str, resource: str, action: str, expected: str) -> None:
    from tests.programme.helpers import user

    with session_scope() as s:
        who = user(s, ROLES[role])
        thing = _load(s, world, resource)
        assert thing is not None or resource == "programme"
        if expected == "ok":
            authorize(who, action, thing)
        elif expected == "hidden":
            with pytest.raises(NotFound) as exc:
                authorize(who, action, thing)
            # The refusal names what was asked for, never the workspace or bank it belongs to.
            if resource != "workspace":
                assert "fraud-triage" not in exc.value.message and "alpha" not in exc.value.message.lower()
        else:
            assert expected == "denied"
            with pytest.raises(PermissionDenied):
                authorize(who, action, thing)


def test_the_table_covers_every_rule() -> None:
    """A new rule must join the table before it ships."""
    assert set(RULES) - {action for _, action in TABLE} == set()
