"""Cohort insights: aggregates across institutions; every group of fewer than k institutions is suppressed."""

from __future__ import annotations

import json

import pytest

from finsandbox.errors import Conflict, InvalidRequest, PermissionDenied
from finsandbox.programme import get_workspace
from finsandbox.store import session_scope
from finsandbox.supervision import cohorts, insights
from finsandbox.supervision import reviews as rv
from finsandbox.supervision import scorecards as sc
from tests.supervision.helpers import make_supervisor, make_trial, make_workspace, rows, user


@pytest.fixture
def cohort(db: str) -> dict[str, str]:
    """Three banks in customer service (one with two use cases), one bank alone in anti-fraud."""
    sup = make_supervisor()
    plan = [
        ("cs-a", "Alpha Bank", "customer_service", 8, 2, "model-a"),
        ("cs-a2", "Alpha Bank", "customer_service", 6, 4, "model-a"),
        ("cs-b", "Beta Bank", "customer_service", 5, 5, "model-a"),
        ("cs-c", "Gamma Bank", "customer_service", 9, 1, "model-a"),
        ("af-d", "Delta Bank", "anti_fraud", 3, 7, "model-rare"),
    ]
    owners = {}
    with session_scope(write=True) as s:
        c = cohorts.create_cohort(
            s, name="2026 intake", themes=["customer_service", "anti_fraud"], actor="test", user=user(s, sup)
        )
    for slug, bank, theme, passed, failed, model in plan:
        ws_id, owners[slug] = make_workspace(slug, bank, theme)
        make_trial(ws_id, rows("tiny/answers", passed // 2, failed), name="t1", model=model, age_days=1)
        make_trial(ws_id, rows("tiny/answers", passed, failed), name="t2", model=model)
        with session_scope(write=True) as s:
            cohorts.add_workspace(s, s.merge(c), get_workspace(s, slug), actor="test")
    with session_scope(write=True) as s:
        # the same kind of finding at three banks, and one only Delta has
        for slug in ("cs-a", "cs-b", "cs-c", "af-d"):
            from finsandbox.evals.trials import list_trials

            trial = list_trials(s, get_workspace(s, slug).id)[0]
            card, _ = sc.build_scorecard(s, trial.id, actor="test")
            review = rv.open_review(s, user(s, sup), card.id)
            rv.add_finding(
                s, user(s, sup), review.id, severity="high", principle="reliability_accuracy", text="x"
            )
            if slug == "af-d":
                rv.add_finding(
                    s, user(s, sup), review.id, severity="critical", principle="fairness", text="y"
                )
    return {"sup": sup, "owner": owners["cs-a"], "cohort": "2026 intake"}


def test_insights_aggregate_and_suppress_small_groups(cohort: dict[str, str]) -> None:
    with session_scope() as s:
        data = insights.cohort_insights(s, cohort["cohort"], user=user(s, cohort["sup"]))
    assert data["k"] == 3 and data["institutions"] == 4
    cs = data["themes"]["customer_service"]["overall"]
    # one value per bank: Alpha is the mean of its two use cases (0.8 and 0.6), then Beta 0.5, Gamma 0.9
    assert cs["institutions"] == 3 and cs["use_cases"] == 4
    assert cs["median"] == pytest.approx(0.7) and cs["mean"] == pytest.approx(0.7)
    assert data["themes"]["anti_fraud"]["overall"] == {
        "suppressed": True,
        "reason": "fewer than 3 institutions",
    }
    # the rare model is used by one bank only: no figure
    assert data["practices"]["model"]["model-rare"]["suppressed"] is True
    assert data["practices"]["model"]["model-a"]["institutions"] == 3
    assert data["practices"]["retrieval"]["off"]["institutions"] == 4
    assert data["trends"]["trial 2"]["institutions"] == 4
    assert data["findings"] == [
        {"principle": "reliability_accuracy", "severity": "high", "findings": 4, "institutions": 4}
    ]
    text = json.dumps(data)
    for secret in ("Alpha", "Beta", "Gamma", "Delta", "cs-a", "af-d"):
        assert secret not in text
    # Delta's own pass rate (0.3) is nowhere in the output
    assert "0.3," not in text and "0.3}" not in text


def test_a_larger_k_suppresses_more_and_a_smaller_k_is_refused(cohort: dict[str, str]) -> None:
    with session_scope() as s:
        sup = user(s, cohort["sup"])
        data = insights.cohort_insights(s, cohort["cohort"], user=sup, k=4)
        assert data["themes"]["customer_service"]["overall"]["suppressed"] is True
        assert data["overall"]["institutions"] == 4
        with pytest.raises(InvalidRequest, match="below cohort 2026 intake's minimum group size of 3"):
            insights.cohort_insights(s, cohort["cohort"], user=sup, k=2)


def test_only_supervisors_see_insights(cohort: dict[str, str]) -> None:
    with pytest.raises(PermissionDenied), session_scope() as s:
        insights.cohort_insights(s, cohort["cohort"], user=user(s, cohort["owner"]))


def test_insights_export_as_html_and_pdf(cohort: dict[str, str]) -> None:
    import io

    from pypdf import PdfReader

    from finsandbox.reports.render import render_pdf

    with session_scope() as s:
        data = insights.cohort_insights(s, cohort["cohort"], user=user(s, cohort["sup"]))
    html = insights.render_insights_html(data)
    assert "suppressed: fewer than 3 institutions" in html and "Delta" not in html
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(html))).pages)
    assert "Cohort insights: 2026 intake" in text and "Practices and scores" in text


def test_cohort_membership_rules(cohort: dict[str, str]) -> None:
    make_workspace("pr-x", "Alpha Bank", "process_reengineering")
    with session_scope(write=True) as s:
        c = cohorts.get_cohort(s, cohort["cohort"])
        with pytest.raises(Conflict, match="already in cohort"):
            cohorts.add_workspace(s, c, get_workspace(s, "cs-a"), actor="t")
        with pytest.raises(InvalidRequest, match="takes customer_service, anti_fraud"):
            cohorts.add_workspace(s, c, get_workspace(s, "pr-x"), actor="t")
        with pytest.raises(InvalidRequest, match="at least 2"):
            cohorts.create_cohort(s, name="tiny", themes=[], actor="t", min_group_size=1)
        with pytest.raises(PermissionDenied, match="only supervisors and operators manage cohorts"):
            cohorts.create_cohort(s, name="x", themes=[], actor="t", user=user(s, cohort["owner"]))
