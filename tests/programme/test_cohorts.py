"""Cohorts: created planned or open, opened and closed by supervisors and operators, seen by everyone."""

from __future__ import annotations

import pytest

from finsandbox.errors import Conflict, PermissionDenied
from finsandbox.programme import cohorts
from finsandbox.store import session_scope
from tests.programme.helpers import ALICE, COHORT, DAN, OLIVE, SAM, make_cohort, make_people, submit, user


@pytest.fixture
def programme(db: str) -> None:
    make_people()
    make_cohort()


def test_closing_a_cohort_stops_applications_and_opening_it_again_resumes_them(programme: None) -> None:
    with session_scope(write=True) as s:
        cohorts.close_cohort(s, cohorts.get_cohort(s, COHORT), actor="t", user=user(s, SAM))
    with pytest.raises(Conflict, match="cohort 2026 intake is closed; it takes applications only while open"):
        submit()
    with session_scope(write=True) as s:
        c = cohorts.get_cohort(s, COHORT)
        with pytest.raises(Conflict, match="already closed"):
            cohorts.close_cohort(s, c, actor="t", user=user(s, OLIVE))
        cohorts.open_cohort(s, c, actor="t", user=user(s, OLIVE))
    assert submit()


def test_participants_see_cohorts_but_do_not_manage_them(programme: None) -> None:
    with session_scope(write=True) as s:
        assert [c.name for c in cohorts.list_cohorts(s, user=user(s, DAN))] == [COHORT]
        assert [c.name for c in cohorts.list_cohorts(s, user=user(s, ALICE), status="closed")] == []
        c = cohorts.get_cohort(s, COHORT, user=user(s, ALICE))
        with pytest.raises(PermissionDenied, match="only supervisors and operators manage cohorts"):
            cohorts.close_cohort(s, c, actor="t", user=user(s, ALICE))


def test_supervision_still_imports_cohorts_from_its_old_place() -> None:
    from finsandbox.supervision import cohorts as old

    assert old.create_cohort is cohorts.create_cohort and old.cohort_workspaces is cohorts.cohort_workspaces
