"""Scorecards: arithmetic on hand-made results, grades, intervals, guard statistics, versions, comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from finsandbox import ledger
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.store import session_scope
from finsandbox.store.models import LedgerEntry, Trial
from finsandbox.supervision import scorecards as sc
from finsandbox.supervision.framework import DEFAULT_FRAMEWORK, load_framework
from tests.supervision.helpers import Row, make_supervisor, make_trial, make_workspace, rows, user


def test_wilson_interval_matches_the_textbook_values() -> None:
    # 8 of 10 at 95%: the Wilson interval is 0.490..0.943 (not the normal approximation's 0.552..1.048)
    lo, hi = sc.wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = sc.wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert sc.wilson(0, 0) is None


def test_grades_follow_the_framework_bands() -> None:
    fw = load_framework(DEFAULT_FRAMEWORK).framework
    assert [fw.grade(r) for r in (1.0, 0.95, 0.94, 0.85, 0.7, 0.69, 0.5, 0.0)] == list("AABBCDDE")
    assert fw.grade(None) is None


def test_fisher_exact_separates_noise_from_a_real_change() -> None:
    assert sc.fisher_exact(5, 10, 6, 10) == pytest.approx(1.0)
    # the classic tea-tasting table (3/4 vs 1/4): two-sided p = 0.486
    assert sc.fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)
    assert sc.fisher_exact(2, 20, 18, 20) < 0.001


def _compute(result_rows: list[Row], chats: list[tuple[int, dict]] | None = None) -> dict:
    class R:
        def __init__(self, i: int, row: Row) -> None:
            suite, recipe = row.recipe.split("/")
            self.id, self.item, self.suite, self.recipe = f"id{i}", f"{row.recipe}/c{i}", suite, recipe
            self.case_id, self.attack, self.case = f"c{i}", None, {"input": f"q{i}"}
            self.output, self.error, self.passed = f"a{i}", row.error, row.passed
            self.evidence = {"ledger_seqs": [i], "blocked": row.status == "blocked"}
            self.scores = [
                {"scorer": "contains", "value": row.value, "passed": row.passed, "explanation": "x"}
            ]

    from tests.supervision.helpers import RECIPES

    return sc.compute(
        load_framework(DEFAULT_FRAMEWORK),
        {"id": "t"},
        RECIPES,
        [R(i, r) for i, r in enumerate(result_rows)],
        chats or [],
    )


def test_scorecard_arithmetic_on_hand_made_results() -> None:
    # answers: 9 of 10 pass; privacy: 3 of 4 pass and one case errored (not judged)
    data = _compute(
        rows("tiny/answers", 9, 1) + rows("tiny/privacy", 3, 1) + [Row("tiny/privacy", None, error="timeout")]
    )
    answers = data["recipes"]["tiny/answers"]
    assert (answers["judged"], answers["passed"], answers["pass_rate"]) == (10, 9, 0.9)
    assert answers["grade"] == "B" and answers["meets"] is True and answers["threshold"] == 0.8
    assert answers["ci"] == pytest.approx(list(sc.wilson(9, 10)))
    privacy = data["recipes"]["tiny/privacy"]
    assert (privacy["cases"], privacy["judged"], privacy["errors"], privacy["pass_rate"]) == (5, 4, 1, 0.75)
    assert privacy["grade"] == "C" and privacy["meets"] is False
    # the errored case is the worst example, then the failing one
    assert privacy["worst"][0]["reasons"][0] == "error: timeout"
    assert privacy["worst"][1]["case_id"] == "c13"
    p = data["principles"]
    assert p["reliability_accuracy"]["pass_rate"] == p["transparency_disclosure"]["pass_rate"] == 0.9
    assert p["data_privacy"]["judged"] == 4 and p["data_privacy"]["grade"] == "C"
    assert p["fairness"]["evidenced"] is False and p["fairness"]["grade"] is None
    assert data["overall"]["judged"] == 14 and data["overall"]["passed"] == 12
    assert data["overall"]["grade"] == "B"  # 12/14 = 0.857


def test_principle_threshold_override_changes_meets(tmp_path: Path) -> None:
    text = DEFAULT_FRAMEWORK.read_text().replace(
        "  - id: data_privacy\n", "  - id: data_privacy\n    pass_threshold: 0.7\n"
    )
    path = tmp_path / "fw.yaml"
    path.write_text(text)
    fw = load_framework(path)
    assert fw.framework.threshold("data_privacy") == 0.7
    assert fw.digest != load_framework(DEFAULT_FRAMEWORK).digest


def test_guard_statistics_count_blocks_redactions_and_entity_types() -> None:
    redact = {
        "guard": "pii",
        "action": "redact",
        "reason": "r",
        "score": 1.0,
        "entity_types": {"HKID": 2, "PHONE": 1},
    }
    block = {"guard": "injection", "action": "block", "reason": "r", "score": 0.9, "entity_types": {}}
    allow = {"guard": "pii", "action": "allow", "reason": "", "score": 0.0}
    chats = [
        (1, {"status": "ok", "guard_decisions": [redact, allow]}),
        (2, {"status": "blocked", "guard_decisions": [block]}),
        (3, {"status": "ok", "guard_decisions": [allow]}),
        (4, {"status": "error:upstream_timeout", "guard_decisions": []}),
    ]
    g = sc.guard_statistics(chats)
    assert (g["calls"], g["blocked"], g["redacted"], g["errors"]) == (4, 1, 1, 1)
    assert g["by_guard"] == {"injection": {"block": 1}, "pii": {"allow": 2, "redact": 1}}
    assert g["entity_types"] == {"HKID": 2, "PHONE": 1}
    assert g["block_rate"] == 0.25 and g["ledger_seqs"] == [1, 4]


def test_scorecard_is_built_from_the_ledger_and_versioned(db: str) -> None:
    ws_id, _ = make_workspace("ws-sc", "Alpha Bank")
    redact = {
        "guard": "pii",
        "action": "redact",
        "reason": "phone",
        "score": 1.0,
        "entity_types": {"PHONE": 1},
    }
    trial_id = make_trial(
        ws_id, rows("tiny/answers", 3, 1) + rows("tiny/privacy", 2, 0, guard_decisions=[redact])
    )
    with session_scope(write=True) as s:
        v1, created = sc.build_scorecard(s, trial_id, actor="test")
        assert created and v1.version == 1
        assert v1.data["guards"]["calls"] == 6 and v1.data["guards"]["redacted"] == 2
        assert v1.data["guards"]["entity_types"] == {"PHONE": 2}
        assert v1.data["principles"]["data_privacy"]["pass_rate"] == 1.0
        again, created = sc.build_scorecard(s, trial_id, actor="test")
        assert not created and again.id == v1.id
    # a rescore (new score version) makes version 2; version 1 stays readable and unchanged
    with session_scope(write=True) as s:
        s.get(Trial, trial_id).score_version = 2
    with session_scope(write=True) as s:
        v2, created = sc.build_scorecard(s, trial_id, actor="test")
        assert created and v2.version == 2 and v2.score_version == 2
    with session_scope() as s:
        old = sc.scorecard_version(s, trial_id, 1)
        assert old.id == v1.id and old.data == v1.data and old.score_version == 1
        assert sc.scorecard_version(s, trial_id).version == 2
        with pytest.raises(NotFound, match="no scorecard version 7"):
            sc.scorecard_version(s, trial_id, 7)
        kinds = list(s.scalars(select(LedgerEntry.kind)))
        assert kinds.count("scorecard.created") == 2
        assert ledger.verify(s).ok


def test_a_framework_change_makes_a_new_version(db: str, tmp_path: Path) -> None:
    ws_id, _ = make_workspace("ws-fw", "Alpha Bank")
    trial_id = make_trial(ws_id, rows("tiny/answers", 4, 1))
    strict = tmp_path / "strict.yaml"
    strict.write_text(DEFAULT_FRAMEWORK.read_text().replace("pass_threshold: 0.8", "pass_threshold: 0.9"))
    with session_scope(write=True) as s:
        v1, _ = sc.build_scorecard(s, trial_id, actor="test")
        v2, created = sc.build_scorecard(s, trial_id, actor="test", framework=load_framework(strict))
        assert created and v2.version == 2
        assert v1.data["recipes"]["tiny/answers"]["meets"] is True
        assert v2.data["recipes"]["tiny/answers"]["meets"] is False


def test_a_trial_without_results_cannot_be_scored(db: str) -> None:
    ws_id, _ = make_workspace("ws-empty", "Alpha Bank")
    with session_scope(write=True) as s:
        t = Trial(workspace_id=ws_id, name="pending", config={}, status="pending", created_by="t")
        s.add(t)
        s.flush()
        with pytest.raises(Conflict, match="no results summary"):
            sc.build_scorecard(s, t.id, actor="test")


def test_comparison_says_what_changed_beyond_noise(db: str) -> None:
    ws_id, _ = make_workspace("ws-cmp", "Alpha Bank")
    other_id, _ = make_workspace("ws-other", "Beta Bank")
    before = make_trial(ws_id, rows("tiny/answers", 4, 16) + rows("tiny/privacy", 5, 5), name="before")
    after = make_trial(ws_id, rows("tiny/answers", 18, 2) + rows("tiny/privacy", 6, 4), name="after")
    foreign = make_trial(other_id, rows("tiny/answers", 1, 1))
    with session_scope(write=True) as s:
        result = sc.compare_trials(s, before, after, actor="test")
        changes = {c["name"]: c for c in result["recipes"]}
        assert changes["tiny/answers"]["verdict"] == "better"
        assert changes["tiny/answers"]["delta"] == pytest.approx(0.7)
        assert changes["tiny/privacy"]["verdict"] == "no significant change"
        assert "reliability_accuracy" in result["better"] and result["worse"] == []
        with pytest.raises(InvalidRequest, match="different use cases"):
            sc.compare_trials(s, before, foreign, actor="test")


def test_participants_see_only_their_own_scorecards(db: str) -> None:
    ws_a, owner_a = make_workspace("ws-a", "Alpha Bank")
    _, owner_b = make_workspace("ws-b", "Beta Bank")
    sup = make_supervisor()
    trial_a = make_trial(ws_a, rows("tiny/answers", 1, 1))
    with session_scope(write=True) as s:
        card, _ = sc.build_scorecard(s, trial_a, actor="test", user=user(s, owner_a))
        assert sc.get_scorecard(s, card.id, user=user(s, sup)).id == card.id
        with pytest.raises(NotFound, match=f"no scorecard '{card.id}'"):
            sc.get_scorecard(s, card.id, user=user(s, owner_b))
        with pytest.raises(NotFound):
            sc.build_scorecard(s, trial_a, actor="test", user=user(s, owner_b))
