"""Reviews: who may open, decide, add findings and respond; evidence checks; every step in the ledger."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from finsandbox import ledger
from finsandbox.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from finsandbox.store import session_scope
from finsandbox.store.models import CaseResult, Finding, LedgerEntry, Review, ReviewEvent
from finsandbox.supervision import reviews as rv
from finsandbox.supervision import scorecards as sc
from tests.supervision.helpers import make_operator, make_supervisor, make_trial, make_workspace, rows, user


@pytest.fixture
def setup(db: str) -> dict[str, str]:
    ws_a, owner_a = make_workspace("ws-a", "Alpha Bank")
    ws_b, owner_b = make_workspace("ws-b", "Beta Bank")
    sup = make_supervisor()
    op = make_operator()
    trial_a = make_trial(ws_a, rows("tiny/answers", 3, 2))
    trial_b = make_trial(ws_b, rows("tiny/answers", 1, 1))
    with session_scope(write=True) as s:
        card, _ = sc.build_scorecard(s, trial_a, actor="test")
        failing = s.scalars(
            select(CaseResult).where(CaseResult.trial_id == trial_a, CaseResult.passed.is_(False))
        ).first()
        foreign = s.scalars(select(CaseResult).where(CaseResult.trial_id == trial_b)).first()
        return {
            "scorecard": card.id,
            "owner_a": owner_a,
            "owner_b": owner_b,
            "sup": sup,
            "op": op,
            "case": failing.id,
            "seq": str(failing.evidence["ledger_seqs"][0]),
            "foreign_case": foreign.id,
            "foreign_seq": str(foreign.evidence["ledger_seqs"][0]),
        }


def _open(setup: dict[str, str]) -> str:
    with session_scope(write=True) as s:
        return rv.open_review(s, user(s, setup["sup"]), setup["scorecard"]).id


def _counts() -> tuple[int, int, int]:
    with session_scope() as s:
        return (
            s.scalar(select(func.count()).select_from(Finding)) or 0,
            s.scalar(select(func.count()).select_from(ReviewEvent)) or 0,
            s.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        )


def test_a_full_review_thread_is_kept_and_every_step_is_in_the_ledger(setup: dict[str, str]) -> None:
    review_id = _open(setup)
    with session_scope(write=True) as s:
        sup, owner = user(s, setup["sup"]), user(s, setup["owner_a"])
        f = rv.add_finding(
            s,
            sup,
            review_id,
            severity="high",
            principle="reliability_accuracy",
            text="Answers about fees are wrong.",
            case_result_ids=[setup["case"]],
            ledger_seqs=[int(setup["seq"])],
        )
        rv.add_action(
            s, sup, review_id, text="Ground fee answers in the tariff.", due_on=date(2026, 12, 31), finding=1
        )
        rv.respond(s, owner, review_id, text="We added retrieval over the tariff.", finding=f.number)
        rv.respond(s, owner, review_id, text="Done in trial 2.", action=1)
        rv.resolve(s, sup, review_id, note="Trial 2 shows it fixed.", finding=1)
        rv.resolve(s, sup, review_id, note="Retrieval is in place.", action=1)
        rv.decide(s, sup, review_id, decision="accepted", note="Ready to exit.")
    with session_scope() as s:
        data = rv.review_as_dict(rv.get_review(s, review_id, user=user(s, setup["owner_a"])))
        assert data["status"] == "accepted"
        assert data["findings"][0]["status"] == "resolved"
        assert data["findings"][0]["case_result_ids"] == [setup["case"]]
        thread = [(e["kind"], e["author"]) for e in data["thread"]]
        assert thread == [
            ("opened", setup["sup"]),
            ("finding_added", setup["sup"]),
            ("action_added", setup["sup"]),
            ("responded", setup["owner_a"]),
            ("responded", setup["owner_a"]),
            ("resolved", setup["sup"]),
            ("resolved", setup["sup"]),
            ("decided", setup["sup"]),
        ]
        assert data["thread"][3]["finding"] == 1 and data["thread"][4]["action"] == 1
        for e in data["thread"]:
            entry = s.get(LedgerEntry, e["ledger_seq"])
            assert entry.kind == f"review.{e['kind']}" and entry.actor == f"user:{e['author']}"
            assert json.loads(entry.payload)["review_id"] == review_id
        assert ledger.verify(s).ok


@pytest.mark.parametrize(
    ("who", "step", "error", "message"),
    [
        ("owner_a", "open", PermissionDenied, "only supervisors open reviews"),
        ("owner_a", "finding", PermissionDenied, "only supervisors add findings"),
        ("owner_a", "decide", PermissionDenied, "only supervisors decide"),
        ("op", "decide", PermissionDenied, "only supervisors and workspace members see reviews"),
        ("sup", "respond", PermissionDenied, "only members of the workspace respond"),
        ("owner_b", "respond", NotFound, "no review"),
        ("owner_b", "decide", NotFound, "no review"),
    ],
)
def test_review_permissions(setup: dict[str, str], who: str, step: str, error: type, message: str) -> None:
    review_id = _open(setup)
    with session_scope(write=True) as s:
        rv.add_finding(s, user(s, setup["sup"]), review_id, severity="low", principle="fairness", text="x")
    before = _counts()
    with pytest.raises(error, match=message), session_scope(write=True) as s:
        actor = user(s, setup[who])
        if step == "open":
            rv.open_review(s, actor, setup["scorecard"])
        elif step == "finding":
            rv.add_finding(s, actor, review_id, severity="low", principle="fairness", text="y")
        elif step == "decide":
            rv.decide(s, actor, review_id, decision="suspended")
        else:
            rv.respond(s, actor, review_id, text="hello", finding=1)
    assert _counts() == before  # nothing partially written, not even a ledger entry
    with session_scope() as s:
        assert s.get(Review, review_id).status == "open"


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({"case_result_ids": ["foreign_case"]}, "belongs to another workspace"),
        ({"ledger_seqs": ["foreign_seq"]}, "ledger entry .* belongs to another workspace"),
        ({"case_result_ids": ["nope"]}, "case result nope does not exist"),
        ({"ledger_seqs": [999999]}, "ledger entry 999999 does not exist"),
    ],
)
def test_a_finding_cannot_cite_evidence_from_another_workspace(
    setup: dict[str, str], evidence: dict[str, list], message: str
) -> None:
    review_id = _open(setup)
    before = _counts()
    resolved = {
        k: [setup.get(v, v) if isinstance(v, str) else v for v in vals] for k, vals in evidence.items()
    }
    if "ledger_seqs" in resolved:
        resolved["ledger_seqs"] = [int(v) for v in resolved["ledger_seqs"]]
    with pytest.raises(InvalidRequest, match=message), session_scope(write=True) as s:
        rv.add_finding(
            s, user(s, setup["sup"]), review_id, severity="high", principle="fairness", text="t", **resolved
        )
    assert _counts() == before


def test_bad_finding_fields_are_refused(setup: dict[str, str]) -> None:
    review_id = _open(setup)
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        with pytest.raises(InvalidRequest, match="unknown severity 'urgent'"):
            rv.add_finding(s, sup, review_id, severity="urgent", principle="fairness", text="t")
        with pytest.raises(InvalidRequest, match="'vibes' is not a principle"):
            rv.add_finding(s, sup, review_id, severity="low", principle="vibes", text="t")
        with pytest.raises(InvalidRequest, match="must not be empty"):
            rv.add_finding(s, sup, review_id, severity="low", principle="fairness", text="  ")
        with pytest.raises(InvalidRequest, match=r"choose a decision.*.maybe. is not one"):
            rv.decide(s, sup, review_id, decision="maybe")
        with pytest.raises(NotFound, match="has no finding 4"):
            rv.add_action(s, sup, review_id, text="t", due_on=date(2027, 1, 1), finding=4)


def test_a_review_with_an_open_critical_finding_cannot_be_accepted(setup: dict[str, str]) -> None:
    review_id = _open(setup)
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        rv.add_finding(s, sup, review_id, severity="critical", principle="data_privacy", text="PII leaks")
    blocked = r"high or critical severity are open \(1\)"
    with pytest.raises(Conflict, match=blocked), session_scope(write=True) as s:
        rv.decide(s, user(s, setup["sup"]), review_id, decision="accepted", note="fine")
    with session_scope(write=True) as s:
        review = rv.decide(s, user(s, setup["sup"]), review_id, decision="suspended", note="PII")
        assert review.status == "suspended" and review.workspace.status == "suspended"


def test_accepting_needs_a_note_and_no_open_high_finding_or_action(setup: dict[str, str]) -> None:
    """A high finding or any required action blocks acceptance; a low finding does not; the use case
    moves with the decision, and nothing is written by a refused one."""
    review_id = _open(setup)
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        rv.add_finding(s, sup, review_id, severity="high", principle="data_privacy", text="Names leak")
        rv.add_finding(s, sup, review_id, severity="low", principle="data_privacy", text="Typo")
        rv.add_action(s, sup, review_id, text="Redact names.", due_on=date(2099, 1, 1))
    with session_scope() as s:
        entries = s.scalar(select(func.count(LedgerEntry.seq)))
    with pytest.raises(InvalidRequest, match="accepting needs a note"), session_scope(write=True) as s:
        rv.decide(s, user(s, setup["sup"]), review_id, decision="accepted")
    with pytest.raises(InvalidRequest, match="choose a decision"), session_scope(write=True) as s:
        rv.decide(s, user(s, setup["sup"]), review_id, decision="", note="x")
    both = r"\(1\) and required actions are open \(A1\)"
    with pytest.raises(Conflict, match=both), session_scope(write=True) as s:
        rv.decide(s, user(s, setup["sup"]), review_id, decision="accepted", note="Looks fine.")
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        assert s.scalar(select(func.count(LedgerEntry.seq))) == entries
        assert rv.get_review(s, review_id).workspace.status == "under_review"
        rv.resolve(s, sup, review_id, note="Names are redacted now.", finding=1)
    with pytest.raises(Conflict, match=r"required actions are open \(A1\)"), session_scope(write=True) as s:
        rv.decide(s, user(s, setup["sup"]), review_id, decision="accepted", note="Looks fine.")
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        rv.resolve(s, sup, review_id, note="Done.", action=1)
        review = rv.decide(s, sup, review_id, decision="accepted", note="Looks fine.")
        assert review.status == "accepted" and review.workspace.status == "accepted"
        assert [f.status for f in review.findings] == ["resolved", "open"]  # the low one stays open
        review = rv.decide(s, sup, review_id, decision="changes_requested", note="Rerun on v2.")
        assert review.workspace.status == "experimenting"


def test_an_override_is_recorded_and_waives_what_blocked(setup: dict[str, str]) -> None:
    review_id = _open(setup)
    with session_scope(write=True) as s:
        sup = user(s, setup["sup"])
        rv.add_finding(s, sup, review_id, severity="critical", principle="data_privacy", text="PII leaks")
        with pytest.raises(InvalidRequest, match="only applies to accepting"):
            rv.decide(s, sup, review_id, decision="suspended", note="x", override_reason="because")
        review = rv.decide(
            s, sup, review_id, decision="accepted", note="Pilot ends.", override_reason="Board waived it."
        )
        assert review.findings[0].status == "waived"
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "review.decided")).one()
        body = json.loads(entry.payload)
        assert body["override"]["waived_findings"] == [1]
        assert body["override"]["reason_digest"] == ledger.sha256_hex("Board waived it.")
        assert "Board waived it." in review.events[-1].text


def test_a_due_date_in_the_past_is_refused(setup: dict[str, str]) -> None:
    review_id = _open(setup)
    with pytest.raises(InvalidRequest, match="2020-01-01 is in the past"), session_scope(write=True) as s:
        rv.add_action(s, user(s, setup["sup"]), review_id, text="Fix it.", due_on=date(2020, 1, 1))
