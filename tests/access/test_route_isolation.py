"""Route by route, another bank's requests are refused and change nothing.

The authorisation table is tested on its own (tests/programme/test_isolation_table.py); here each route
that takes a foreign identifier is called by Alpha Bank (a signed-in session for the web, a personal
token for the JSON API) with Beta Bank's identifiers, and the database must be exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from finsandbox.store import session_scope
from finsandbox.store.models import (
    Application,
    Assessment,
    Dataset,
    Finding,
    Job,
    LedgerEntry,
    RequiredAction,
    Review,
    Scorecard,
    UsageRecord,
)
from tests.programme.helpers import ALICE, BOB, PASSWORD, SAM, SUE, assess, make_cohort, make_people, submit
from tests.supervision.helpers import make_trial, rows

CSV = b"question,answer\nWhat is a CD?,A certificate of deposit.\n"


@pytest.fixture
def world(db: str) -> dict[str, str]:
    """Beta Bank: an admitted use case with an endpoint, a dataset, a trial, a scorecard and an open
    review, plus a second application under assessment. Alpha Bank: a bank user, Alice."""
    from finsandbox.access.tokens import create_token
    from finsandbox.access.users import get_user
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.programme import add_endpoint
    from finsandbox.programme import applications as apps
    from finsandbox.supervision.reviews import open_review
    from finsandbox.supervision.scorecards import build_scorecard

    make_people()
    make_cohort()
    admitted = submit(BOB, title="Beta complaints assistant", tech_partner="", members=[])
    assess(admitted, SAM)
    assess(admitted, SUE)
    with session_scope(write=True) as s:
        ws = apps.admit(s, get_user(s, SAM), admitted)
        add_endpoint(
            s,
            ws,
            name="stub",
            backend="openai",
            config={"base_url": "http://127.0.0.1:9/v1", "model": "m"},
            actor="t",
        )
        dataset = upload_dataset(s, get_user(s, BOB), ws, name="faq", filename="faq.csv", data=CSV)
        out = {"ws": ws.slug, "ws_id": ws.id, "dataset": dataset.id}
    pending = submit(BOB, title="Beta fraud triage", tech_partner="", members=[])
    with session_scope(write=True) as s:
        apps.start_assessment(s, get_user(s, SAM), pending)
    out["pending"] = pending
    out["trial"] = make_trial(out["ws_id"], rows("tiny/answers", 2, 1))
    out["trial2"] = make_trial(out["ws_id"], rows("tiny/answers", 3, 0))
    with session_scope(write=True) as s:
        sam = get_user(s, SAM)
        card, _ = build_scorecard(s, out["trial"], actor="test", user=sam)
        build_scorecard(s, out["trial2"], actor="test", user=sam)
        out["review"] = open_review(s, sam, card.id, title="Beta review").id
        out["token"] = create_token(s, get_user(s, ALICE), name="t", actor="test").secret
        from finsandbox.jobs.service import submit as submit_job

        out["job"] = submit_job(
            s,
            ws_of(s, out["ws"]),
            "batch_inference",
            {"dataset": "faq", "endpoint": "stub", "column": "question"},
            actor="test",
        ).id
    return out


def ws_of(s: Any, slug: str) -> Any:
    from finsandbox.programme import get_workspace

    return get_workspace(s, slug)


def snapshot() -> dict[str, Any]:
    """Everything a refused write could have changed."""
    with session_scope() as s:
        count = {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (
                LedgerEntry,
                Dataset,
                Finding,
                RequiredAction,
                Review,
                Scorecard,
                Assessment,
                UsageRecord,
                Job,
            )
        }
        count["jobs"] = sorted(s.execute(select(Job.id, Job.state)).all())
        count["states"] = sorted(s.execute(select(Application.id, Application.status)).all())
        count["reviews"] = sorted(s.execute(select(Review.id, Review.status)).all())
        count["head"] = s.scalar(select(func.max(LedgerEntry.seq)))
        return count


@pytest.fixture
def alice(world: dict[str, str]) -> Iterator[tuple[TestClient, str]]:
    """Alice of Alpha Bank, signed in to the web UI; yields the client and her CSRF token."""
    from finsandbox.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = client.post(
            "/login",
            data={"email": ALICE, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        home = client.get("/cohorts")
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
        yield client, csrf


def test_web_routes_refuse_another_banks_requests(
    alice: tuple[TestClient, str], world: dict[str, str]
) -> None:
    client, csrf = alice
    h = {"X-CSRF-Token": csrf}
    ws, review, app_id = world["ws"], world["review"], world["pending"]
    before = snapshot()
    attempts = {
        "playground chat": client.post(
            f"/w/{ws}/playground/chat",
            json={"endpoint": "stub", "messages": [{"role": "user", "content": "hi"}]},
            headers=h,
        ),
        "dataset upload": client.post(
            f"/w/{ws}/datasets", files={"file": ("x.csv", CSV, "text/csv")}, data={"name": "x"}, headers=h
        ),
        "dataset delete": client.post(f"/w/{ws}/datasets/{world['dataset']}/delete", headers=h),
        "review finding": client.post(
            f"/reviews/{review}/findings",
            data={"severity": "high", "principle": "fairness", "text": "planted"},
            headers=h,
        ),
        "review action": client.post(f"/reviews/{review}/actions", data={"text": "planted"}, headers=h),
        "review decision": client.post(
            f"/reviews/{review}/decide", data={"decision": "approved", "note": "planted"}, headers=h
        ),
        "application assessment": client.post(
            f"/applications/{app_id}/assess",
            data={"score_innovation": "5", "comment": "planted"},
            headers=h,
        ),
        "application admission": client.post(f"/applications/{app_id}/admit", headers=h),
        "job submit": client.post(
            f"/w/{ws}/jobs", data={"kind": "batch_inference", "dataset": "faq", "endpoint": "stub"}, headers=h
        ),
        "job cancel": client.post(f"/jobs/{world['job']}/cancel", headers=h),
        "job resume": client.post(f"/jobs/{world['job']}/resume", headers=h),
        "job artifact": client.get(f"/jobs/{world['job']}/artifacts/outputs.jsonl"),
        "allocation": client.post(f"/operations/allocations/{ws}", data={"tokens": "1"}, headers=h),
    }
    for what, response in attempts.items():
        assert response.status_code in (403, 404), f"{what}: {response.status_code} {response.text[:300]}"
        assert "Traceback" not in response.text
    assert snapshot() == before


def test_api_routes_refuse_another_banks_requests(world: dict[str, str]) -> None:
    from finsandbox.app import create_app

    h = {"Authorization": f"Bearer {world['token']}"}
    before = snapshot()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        attempts = {
            "scorecards by trial": client.get(f"/api/v1/trials/{world['trial']}/scorecards", headers=h),
            "build a scorecard": client.post(f"/api/v1/trials/{world['trial']}/scorecards", headers=h),
            "scorecard compare": client.get(
                "/api/v1/scorecards/compare",
                params={"before": world["trial"], "after": world["trial2"]},
                headers=h,
            ),
            "review detail": client.get(f"/api/v1/reviews/{world['review']}", headers=h),
            "review finding": client.post(
                f"/api/v1/reviews/{world['review']}/findings",
                json={"severity": "high", "principle": "fairness", "text": "planted"},
                headers=h,
            ),
            "bundle export": client.post(f"/api/v1/workspaces/{world['ws']}/bundle", headers=h),
            "exit report": client.get(f"/api/v1/workspaces/{world['ws']}/exit-report", headers=h),
            "application admission": client.post(
                f"/api/v1/applications/{world['pending']}/admit", json={}, headers=h
            ),
            "job submit": client.post(
                f"/api/v1/workspaces/{world['ws']}/jobs",
                json={"kind": "batch_inference", "params": {"dataset": "faq", "endpoint": "stub"}},
                headers=h,
            ),
            "job read": client.get(f"/api/v1/jobs/{world['job']}", headers=h),
            "job cancel": client.post(f"/api/v1/jobs/{world['job']}/cancel", headers=h),
            "job resume": client.post(f"/api/v1/jobs/{world['job']}/resume", headers=h),
            "allocation": client.put(
                f"/api/v1/workspaces/{world['ws']}/allocation", json={"tokens": 1}, headers=h
            ),
        }
        for what, response in attempts.items():
            assert response.status_code == 404, f"{what}: {response.status_code} {response.text[:300]}"
            body = response.json()["error"]
            assert world["ws"] not in body["message"] or what in (
                "bundle export",
                "exit report",
                "job submit",
                "allocation",
            ), body
    assert snapshot() == before


def test_a_csrf_token_sent_as_a_form_field_is_not_a_500(alice: tuple[TestClient, str]) -> None:
    """The playground reads JSON; a form body carrying the token used to leave "Stream consumed"."""
    client, csrf = alice
    r = client.post("/w/any/playground/chat", data={"csrf_token": csrf, "endpoint": "stub"})
    assert r.status_code == 400, r.text
    assert "send JSON" in r.text
