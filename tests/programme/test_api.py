"""The programme over the JSON API, as a bank's, a tech partner's and the regulator's tools call it,
including callers who guess other banks' ids and URLs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from finsandbox.store import session_scope
from tests.programme.helpers import (
    ALICE,
    BOB,
    COHORT,
    DAN,
    FORM,
    GINA,
    GOOD,
    SAM,
    SUE,
    make_cohort,
    make_people,
    user,
)


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    from finsandbox.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(db: str) -> dict[str, dict[str, str]]:
    from finsandbox.access.tokens import create_token

    make_people()
    make_cohort()
    out = {}
    with session_scope(write=True) as s:
        for email in (ALICE, BOB, GINA, DAN, SAM, SUE):
            secret = create_token(s, user(s, email), name="t", actor="test").secret
            out[email] = {"Authorization": f"Bearer {secret}"}
    return out


def _error(r) -> dict:  # type: ignore[no-untyped-def]
    return r.json()["error"]


def test_apply_assess_admit_and_work_over_the_api(client: TestClient, tokens: dict) -> None:
    t = tokens
    r = client.get("/api/v1/cohorts", headers=t[DAN])
    assert r.status_code == 200 and [c["name"] for c in r.json()] == [COHORT]
    assert r.json()[0]["status"] == "open" and r.json()[0]["applications"] == 0

    body = {"cohort": COHORT, **FORM, "tech_partner": "Gamma Tech", "members": [GINA]}
    r = client.post("/api/v1/applications", json=body, headers=t[GINA])
    assert r.status_code == 403 and "only bank users submit applications" in _error(r)["message"]
    r = client.post("/api/v1/applications", json=body, headers=t[ALICE])
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["state"] == "proposed" and app["state_label"] == "proposed" and app["assessment"] is None
    assert app["members"] == [{"email": ALICE, "role": "owner"}, {"email": GINA, "role": "developer"}]
    app_id = app["id"]

    # another bank guesses the id, or a prefix of it: nothing exists
    for guess in (app_id, app_id[:8]):
        r = client.get(f"/api/v1/applications/{guess}", headers=t[BOB])
        assert r.status_code == 404 and _error(r)["message"] == f"no application '{guess}'"
        r = client.post(f"/api/v1/applications/{guess}/withdraw", json={}, headers=t[BOB])
        assert r.status_code == 404
    assert client.get("/api/v1/applications", headers=t[BOB]).json() == []
    assert [a["id"] for a in client.get("/api/v1/applications", headers=t[GINA]).json()] == [app_id]

    for who in (SAM, SUE):
        r = client.post(f"/api/v1/applications/{app_id}/assessments", json={"scores": GOOD}, headers=t[who])
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "under_assessment" and r.json()["assessment"]["enough"] is True
    r = client.get(f"/api/v1/applications/{app_id}/assessments", headers=t[ALICE])
    assert r.status_code == 403 and "only supervisors see individual assessments" in _error(r)["message"]
    r = client.get(f"/api/v1/applications/{app_id}/assessments", headers=t[SAM])
    assert r.json()["overall"] == pytest.approx(3.95) and r.json()["criteria"][0]["spread"] == 0

    r = client.post(f"/api/v1/applications/{app_id}/admit", json={}, headers=t[ALICE])
    assert r.status_code == 403
    r = client.post(f"/api/v1/applications/{app_id}/admit", json={}, headers=t[SAM])
    assert r.status_code == 200, r.text
    slug = r.json()["workspace"]
    assert slug == "fraud-triage-assistant" and r.json()["state"] == "admitted"

    assert [w["slug"] for w in client.get("/api/v1/workspaces", headers=t[ALICE]).json()] == [slug]
    assert [w["slug"] for w in client.get("/api/v1/workspaces", headers=t[SAM]).json()] == [slug]
    assert client.get("/api/v1/workspaces", headers=t[BOB]).json() == []
    assert client.get("/api/v1/workspaces", headers=t[DAN]).json() == []
    ws = client.get(f"/api/v1/workspaces/{slug}", headers=t[GINA]).json()
    assert ws["state"] == "admitted" and ws["cohort"] == COHORT and ws["application_id"] == app_id
    assert {m["email"] for m in ws["members"]} == {ALICE, GINA}
    for url in (
        f"/api/v1/workspaces/{slug}",
        f"/api/v1/workspaces/{ws['id']}",
        f"/api/v1/workspaces/{slug}/state",
    ):
        r = client.get(url, headers=t[BOB])
        assert r.status_code == 404 and _error(r)["message"].startswith("no workspace"), url
    r = client.get(f"/api/v1/workspaces/{slug}/exit-report", headers=t[DAN])
    assert r.status_code == 404

    r = client.post(
        f"/api/v1/workspaces/{slug}/state", json={"to": "concluded", "note": "done"}, headers=t[ALICE]
    )
    assert r.status_code == 403 and "only supervisors move a use case" in _error(r)["message"]
    r = client.post(
        f"/api/v1/workspaces/{slug}/state", json={"to": "concluded", "note": "exit"}, headers=t[SAM]
    )
    assert r.status_code == 200 and r.json()["state"] == "concluded"
    assert [h["to"] for h in r.json()["history"]] == ["proposed", "under_assessment", "admitted", "concluded"]
    r = client.post(f"/api/v1/applications/{app_id}/withdraw", json={}, headers=t[ALICE])
    assert r.status_code == 409 and "is concluded and cannot become withdrawn" in _error(r)["message"]


def test_bad_forms_name_every_field(client: TestClient, tokens: dict) -> None:
    body = {"cohort": COHORT, **FORM, "title": "", "approach": "vibes"}
    r = client.post("/api/v1/applications", json=body, headers=tokens[ALICE])
    assert r.status_code == 400
    assert _error(r)["param"] == "title"
    assert set(r.json()["finsandbox"]["fields"]) == {"title", "approach"}
    r = client.post("/api/v1/applications", json={"cohort": COHORT}, headers=tokens[ALICE])
    assert r.status_code == 400 and _error(r)["param"] == "title"  # missing fields, named by pydantic


def test_decline_and_cohort_management_over_the_api(client: TestClient, tokens: dict) -> None:
    t = tokens
    body = {"cohort": COHORT, **FORM}
    app_id = client.post("/api/v1/applications", json=body, headers=t[ALICE]).json()["id"]
    r = client.post(f"/api/v1/applications/{app_id}/decline", json={"reasons": ""}, headers=t[SAM])
    assert r.status_code == 400 and _error(r)["param"] == "reasons"
    r = client.post(f"/api/v1/applications/{app_id}/decline", json={"reasons": "No GenAI."}, headers=t[SAM])
    assert r.json()["state"] == "declined"
    seen = client.get(f"/api/v1/applications/{app_id}", headers=t[ALICE]).json()
    assert seen["decision_reasons"] == "No GenAI." and seen["next_states"] == []

    r = client.post(f"/api/v1/cohorts/{COHORT}/close", headers=t[ALICE])
    assert r.status_code == 403
    r = client.post(f"/api/v1/cohorts/{COHORT}/close", headers=t[SAM])
    assert r.json()["status"] == "closed"
    r = client.post("/api/v1/applications", json=body, headers=t[ALICE])
    assert r.status_code == 409 and _error(r)["param"] == "cohort"
    r = client.post("/api/v1/cohorts", json={"name": "2027 intake", "planned": True}, headers=t[SAM])
    assert r.status_code == 201 and r.json()["status"] == "planned"
    assert client.get("/api/v1/rubric", headers=t[BOB]).json()["min_assessments"] == 2


def test_the_programme_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/api/v1/cohorts", "get"),
        ("/api/v1/applications", "post"),
        ("/api/v1/applications/{application_id}/assessments", "post"),
        ("/api/v1/applications/{application_id}/admit", "post"),
        ("/api/v1/applications/{application_id}/decline", "post"),
        ("/api/v1/applications/{application_id}/withdraw", "post"),
        ("/api/v1/workspaces", "get"),
        ("/api/v1/workspaces/{slug}/state", "post"),
    ]:
        assert method in paths[path], path
