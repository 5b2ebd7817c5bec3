"""The use-case lifecycle as a bank and the regulator live it: apply, assess, admit or decline, experiment,
come under review, conclude or withdraw; every step in the ledger, every wrong step refused by name."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from finsandbox import ledger
from finsandbox.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from finsandbox.programme import applications as apps
from finsandbox.programme import get_workspace, lifecycle, list_endpoints, list_members, list_workspaces
from finsandbox.store import session_scope
from finsandbox.store.models import Application, Assessment, LedgerEntry, Trial
from tests.programme.helpers import (
    ADAM,
    ALICE,
    BOB,
    COHORT,
    DAN,
    GINA,
    GOOD,
    SAM,
    SUE,
    admit,
    admitted_use_case,
    assess,
    make_cohort,
    make_people,
    submit,
    user,
)


@pytest.fixture
def programme(db: str) -> None:
    make_people()
    make_cohort()


def _state(application_id: str) -> str:
    with session_scope() as s:
        return lifecycle.state_of(s.get(Application, application_id))


def _kinds() -> list[str]:
    with session_scope() as s:
        return list(s.scalars(select(LedgerEntry.kind).order_by(LedgerEntry.seq)))


def test_admission_creates_the_workspace_with_its_team_and_an_endpoint(programme: None) -> None:
    app_id = submit()
    assert _state(app_id) == "proposed"
    assess(app_id, SAM)
    assert _state(app_id) == "under_assessment"  # the first scores take it into assessment
    assess(app_id, SUE)
    slug = admit(app_id)
    assert slug == "fraud-triage-assistant"
    with session_scope() as s:
        ws = get_workspace(s, slug)
        application = s.get(Application, app_id)
        assert application.status == ws.status == "admitted"
        assert application.workspace_id == ws.id
        assert ws.cohort_id == application.cohort_id and ws.bank.name == "Alpha Bank"
        assert ws.theme == "anti_fraud" and ws.name == "Fraud triage assistant"
        assert {(m.user.email, m.role) for m in list_members(s, ws)} == {
            (ALICE, "owner"),
            (GINA, "developer"),
        }
        [ep] = list_endpoints(s, ws.id)
        assert (ep.name, ep.backend) == ("smollm2", "llamacpp")
        assert application.decided_by is not None and application.forced_reason is None
    kinds = _kinds()
    for kind in (
        "application.submitted",
        "application.assessment_started",
        "application.assessed",
        "workspace.created",
        "member.added",
        "endpoint.created",
        "application.admitted",
    ):
        assert kind in kinds, kind
    assert kinds.count("application.assessed") == 2
    with session_scope() as s:
        assert ledger.verify(s).ok


def test_a_second_use_case_with_the_same_title_gets_its_own_slug(programme: None) -> None:
    first = admitted_use_case()
    second = admitted_use_case()
    assert first.workspace == "fraud-triage-assistant"
    assert second.workspace == "fraud-triage-assistant-2"


def test_admission_needs_enough_assessments_unless_forced_with_a_reason(programme: None) -> None:
    app_id = submit()
    assess(app_id, SAM)
    with pytest.raises(Conflict, match="has 1 of the 2 assessments the rubric asks for") as exc:
        admit(app_id)
    assert exc.value.param == "force_reason"
    assert _state(app_id) == "under_assessment"
    slug = admit(app_id, force_reason="urgent fraud pattern; second assessor on leave")
    with session_scope() as s:
        application = s.get(Application, app_id)
        assert application.forced_reason == "urgent fraud pattern; second assessor on leave"
        admitted = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "application.admitted")).one()
        body = json.loads(admitted.payload)
        assert body["forced"] is True and body["slug"] == slug and admitted.workspace_id is not None


def test_assessing_again_replaces_the_assessors_scores_and_the_aggregate_follows(programme: None) -> None:
    app_id = submit()
    assess(app_id, SAM, {k: 5 for k in GOOD}, comment="first look")
    assert assess(app_id, SAM, GOOD, comment="on reflection") == pytest.approx(3.95)
    assess(app_id, SUE, {k: 1 for k in GOOD})
    with session_scope() as s:
        assert len(list(s.scalars(select(Assessment)))) == 2
        summary = apps.assessment_summary(s, user(s, SAM), app_id)
    assert summary.assessors == 2 and summary.enough
    assert summary.overall == pytest.approx((3.95 + 1.0) / 2)
    innovation = next(c for c in summary.criteria if c.id == "innovation")
    assert (innovation.mean, innovation.min, innovation.max, innovation.spread) == (2.5, 1, 4, 3)
    sam = next(a for a in summary.by_assessor if a.assessor == SAM)
    assert sam.comment == "on reflection" and sam.scores == GOOD


def test_only_supervisors_see_the_scores(programme: None) -> None:
    app_id = submit()
    assess(app_id, SAM)
    with session_scope() as s:
        with pytest.raises(PermissionDenied, match="only supervisors see individual assessments"):
            apps.assessment_summary(s, user(s, ALICE), app_id)
        mine = apps.application_as_dict(
            s, apps.get_application(s, app_id, user=user(s, ALICE)), user=user(s, ALICE)
        )
        assert mine["assessment"] is None and mine["state"] == "under_assessment"
        theirs = apps.application_as_dict(s, s.get(Application, app_id), user=user(s, SAM))
        assert theirs["assessment"]["assessors"] == 1


def test_decline_needs_reasons_the_bank_then_reads_and_is_final(programme: None) -> None:
    app_id = submit()
    with session_scope(write=True) as s:
        with pytest.raises(InvalidRequest, match="say why") as exc:
            apps.decline(s, user(s, SAM), app_id, reasons="  ")
        assert exc.value.param == "reasons"
    with session_scope(write=True) as s:
        apps.decline(s, user(s, SAM), app_id, reasons="Out of scope: no GenAI component.")
    with session_scope() as s:
        seen = apps.application_as_dict(
            s, apps.get_application(s, app_id, user=user(s, ADAM)), user=user(s, ADAM)
        )
        assert seen["state"] == "declined" and seen["decision_reasons"] == "Out of scope: no GenAI component."
        assert seen["next_states"] == []
    with pytest.raises(Conflict, match="is declined and cannot become admitted; it is final"):
        admit(app_id)
    assert "application.declined" in _kinds()


def test_wrong_moves_are_refused_naming_the_current_and_the_wanted_state(programme: None) -> None:
    app_id = submit()
    with pytest.raises(Conflict, match="is proposed and cannot become admitted; from there it can become"):
        admit(app_id)
    ws = admitted_use_case().workspace
    with session_scope(write=True) as s, pytest.raises(Conflict, match="is admitted and cannot become under"):
        lifecycle.move(s, to="under_assessment", actor="t", workspace=get_workspace(s, ws))
    with session_scope(write=True) as s, pytest.raises(Conflict, match="unknown lifecycle state 'paused'"):
        lifecycle.change_state(s, user(s, SAM), get_workspace(s, ws), "paused")
    with session_scope(write=True) as s:
        apps.start_assessment(s, user(s, SAM), app_id)
    with (
        session_scope(write=True) as s,
        pytest.raises(Conflict, match="is under assessment and cannot become"),
    ):
        apps.start_assessment(s, user(s, SUE), app_id)


def _begin_trial(workspace: str) -> None:
    from finsandbox.evals.trials import _begin

    with session_scope(write=True) as s:
        trial = Trial(workspace_id=get_workspace(s, workspace).id, name="first", config={}, created_by="t")
        s.add(trial)
        s.flush()
        trial_id = trial.id
    _begin(trial_id, "tester")


def test_a_use_case_experiments_comes_under_review_and_concludes(programme: None) -> None:
    from finsandbox.supervision import reviews as rv
    from finsandbox.supervision import scorecards as sc
    from tests.supervision.helpers import make_trial, rows

    case = admitted_use_case()
    _begin_trial(case.workspace)
    assert _state(case.application_id) == "experimenting"
    _begin_trial(case.workspace)  # a second trial changes nothing
    assert _kinds().count("workspace.state_changed") == 1
    with session_scope() as s:
        ws_id = get_workspace(s, case.workspace).id
    trial_id = make_trial(ws_id, rows("tiny/answers", 3, 1))
    with session_scope(write=True) as s:
        card, _ = sc.build_scorecard(s, trial_id, actor="t")
        rv.open_review(s, user(s, SAM), card.id)
    assert _state(case.application_id) == "under_review"
    with session_scope(write=True) as s:
        ws = get_workspace(s, case.workspace)
        with pytest.raises(PermissionDenied, match="only supervisors move a use case"):
            lifecycle.change_state(s, user(s, ALICE), ws, "concluded", note="we are done")
        with pytest.raises(InvalidRequest, match="exit decision") as exc:
            lifecycle.change_state(s, user(s, SAM), ws, "concluded")
        assert exc.value.param == "note"
    with session_scope(write=True) as s:
        ws = get_workspace(s, case.workspace)
        assert (
            lifecycle.change_state(s, user(s, SAM), ws, "concluded", note="exit: accepted") == "under_review"
        )
    with session_scope() as s:
        state = lifecycle.workspace_state(s, get_workspace(s, case.workspace))
    assert state["state"] == "concluded" and state["next_states"] == []
    assert [h["to"] for h in state["history"]] == [
        "proposed",
        "under_assessment",
        "admitted",
        "experimenting",
        "under_review",
        "concluded",
    ]


def test_the_bank_withdraws_its_use_case_and_no_one_else_can(programme: None) -> None:
    case = admitted_use_case()
    with session_scope(write=True) as s:
        with pytest.raises(PermissionDenied, match="only the applicant bank withdraws"):
            apps.withdraw(s, user(s, GINA), case.application_id)
        with pytest.raises(PermissionDenied, match="only the applicant bank withdraws"):
            apps.withdraw(s, user(s, SAM), case.application_id)
        with pytest.raises(NotFound, match="no application"):
            apps.withdraw(s, user(s, BOB), case.application_id)
    with session_scope(write=True) as s:
        apps.withdraw(s, user(s, ADAM), case.application_id, reason="budget cut")
    with session_scope() as s:
        assert get_workspace(s, case.workspace).status == "withdrawn"
        assert s.get(Application, case.application_id).status == "withdrawn"
    with (
        pytest.raises(Conflict, match="is withdrawn and cannot become withdrawn; it is final"),
        session_scope(write=True) as s,
    ):
        apps.withdraw(s, user(s, ALICE), case.application_id)


def test_a_workspace_member_from_the_bank_withdraws_through_the_workspace(programme: None) -> None:
    case = admitted_use_case()
    with session_scope(write=True) as s:
        ws = get_workspace(s, case.workspace)
        with pytest.raises(PermissionDenied, match="only the bank's members of the workspace withdraw it"):
            lifecycle.change_state(s, user(s, GINA), ws, "withdrawn")
        with pytest.raises(NotFound, match="no workspace"):
            lifecycle.change_state(s, user(s, BOB), ws, "withdrawn")
        lifecycle.change_state(s, user(s, ALICE), ws, "withdrawn", note="moving to production elsewhere")
    assert _state(case.application_id) == "withdrawn"


def test_submission_names_every_bad_field(programme: None) -> None:
    with session_scope(write=True) as s, pytest.raises(InvalidRequest) as exc:
        apps.submit_application(
            s,
            user(s, ALICE),
            cohort=COHORT,
            title=" ",
            theme="crypto",
            description="",
            approach="magic",
            data_used="x",
            expected_benefit="y",
            risk_materiality="tiny",
            tech_partner="Beta Bank",
            members=[BOB, "nobody@nowhere.example.com"],
        )
    assert exc.value.param == "title"
    fields = exc.value.extra["fields"]  # type: ignore[index]
    assert set(fields) == {
        "title",
        "theme",
        "description",
        "approach",
        "risk_materiality",
        "tech_partner",
        "members",
    }
    assert "RAG, fine-tuning, prompting, agent" in fields["approach"]
    assert fields["tech_partner"] == "'Beta Bank' is not a registered tech partner"
    assert fields["members"] == f"{BOB} is not a user of Alpha Bank"
    with session_scope() as s:
        assert s.scalars(select(Application)).first() is None


def test_who_may_apply_and_to_which_cohort(programme: None) -> None:
    make_cohort("themed", themes=["customer_service"])
    make_cohort("later", status="planned")
    with pytest.raises(PermissionDenied, match="only bank users submit applications"):
        submit(GINA)
    with pytest.raises(PermissionDenied, match="only bank users submit applications"):
        submit(SAM)
    with pytest.raises(Conflict, match="cohort later is planned; it takes applications only while open"):
        submit(cohort="later")
    with pytest.raises(
        InvalidRequest, match="cohort themed takes customer_service use cases, not anti_fraud"
    ):
        submit(cohort="themed")
    with pytest.raises(NotFound, match="no cohort 'nope'"):
        submit(cohort="nope")


def test_the_bank_changes_its_application_only_while_proposed(programme: None) -> None:
    app_id = submit()
    with session_scope(write=True) as s:
        a = apps.update_application(s, user(s, ADAM), app_id, title="Fraud triage copilot", members=[])
        assert a.title == "Fraud triage copilot" and [m.user.email for m in a.members] == [ALICE]
        with pytest.raises(PermissionDenied, match="only the applicant bank changes"):
            apps.update_application(s, user(s, GINA), app_id, title="Ours now")
        with pytest.raises(InvalidRequest, match="no field 'status'"):
            apps.update_application(s, user(s, ALICE), app_id, status="admitted")
    assess(app_id, SAM)
    with session_scope(write=True) as s, pytest.raises(Conflict, match="can be changed only while proposed"):
        apps.update_application(s, user(s, ALICE), app_id, title="Too late")


def test_lists_show_each_person_only_their_own(programme: None) -> None:
    case = admitted_use_case()
    beta = submit(BOB, tech_partner=None, members=[], title="Beta complaints bot", theme="customer_service")
    with session_scope() as s:

        def ids(email: str) -> set[str]:
            return {a.id for a in apps.list_applications(s, user=user(s, email))}

        assert ids(ALICE) == ids(ADAM) == ids(GINA) == {case.application_id}
        assert ids(BOB) == {beta}
        assert ids(DAN) == set()
        assert ids(SAM) == {case.application_id, beta}
        assert [w.slug for w in list_workspaces(s, user=user(s, ALICE))] == [case.workspace]
        assert [w.slug for w in list_workspaces(s, user=user(s, GINA))] == [case.workspace]
        assert list_workspaces(s, user=user(s, ADAM)) == []  # same bank, not on the team
        assert list_workspaces(s, user=user(s, BOB)) == []
        assert [w.slug for w in list_workspaces(s, user=user(s, SAM))] == [case.workspace]
        assert [a.id for a in apps.list_applications(s, user=user(s, SAM), status="proposed")] == [beta]
        with pytest.raises(InvalidRequest, match="unknown state 'pending'"):
            apps.list_applications(s, user=user(s, SAM), status="pending")
