"""The JSON API as a supervisor's and a bank's tools call it: personal tokens, reviews, reports, errors."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from finsandbox.store import session_scope
from finsandbox.store.models import LedgerEntry
from tests.supervision.helpers import make_supervisor, make_trial, make_workspace, rows, user


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    from finsandbox.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _token(email: str) -> dict[str, str]:
    from finsandbox.access.tokens import create_token

    with session_scope(write=True) as s:
        return {"Authorization": f"Bearer {create_token(s, user(s, email), name='t', actor='test').secret}"}


@pytest.fixture
def people(db: str) -> dict[str, object]:
    ws_a, owner_a = make_workspace("ws-a", "Alpha Bank")
    _, owner_b = make_workspace("ws-b", "Beta Bank")
    sup = make_supervisor()
    trial = make_trial(ws_a, rows("tiny/answers", 3, 2) + rows("tiny/privacy", 2, 0))
    return {"sup": _token(sup), "a": _token(owner_a), "b": _token(owner_b), "trial": trial}


def _ledger_size() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def test_requests_need_a_valid_personal_token(client: TestClient, people: dict) -> None:
    url = f"/api/v1/trials/{people['trial']}/scorecards"
    r = client.get(url)
    assert r.status_code == 401 and "no token given" in r.json()["error"]["message"]
    r = client.get(url, headers={"Authorization": "Bearer fsk_abcd1234_notauser"})
    assert r.status_code == 401 and "not a personal API token" in r.json()["error"]["message"]
    r = client.get(url, headers={"Authorization": "Bearer fsu_abcd1234_wrong"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "the token is not valid"


def test_a_revoked_token_is_refused_at_once(client: TestClient, people: dict) -> None:
    from finsandbox.access.tokens import revoke_token

    secret = people["a"]["Authorization"].removeprefix("Bearer ")
    with session_scope(write=True) as s:
        revoke_token(s, "_".join(secret.split("_")[:2]), actor="test")
    r = client.get(f"/api/v1/trials/{people['trial']}/scorecards", headers=people["a"])
    assert r.status_code == 401 and "has been revoked" in r.json()["error"]["message"]


def test_review_flow_over_the_api(client: TestClient, people: dict) -> None:
    sup, a, b = people["sup"], people["a"], people["b"]
    r = client.post(f"/api/v1/trials/{people['trial']}/scorecards", headers=a)
    assert r.status_code == 200 and r.json()["created"] is True and r.json()["version"] == 1
    card = r.json()
    assert card["data"]["recipes"]["tiny/answers"]["pass_rate"] == 0.6
    worst = card["data"]["recipes"]["tiny/answers"]["worst"][0]
    assert client.post(f"/api/v1/trials/{people['trial']}/scorecards", headers=a).json()["created"] is False
    # another bank cannot even learn the scorecard exists
    r = client.get(f"/api/v1/scorecards/{card['id']}", headers=b)
    assert r.status_code == 404 and r.json()["error"]["message"] == f"no scorecard '{card['id']}'"
    # a participant cannot open a review
    r = client.post("/api/v1/reviews", json={"scorecard_id": card["id"]}, headers=a)
    assert r.status_code == 403 and "only supervisors open reviews" in r.json()["error"]["message"]
    r = client.post("/api/v1/reviews", json={"scorecard_id": card["id"]}, headers=sup)
    assert r.status_code == 201
    review = r.json()["id"]
    r = client.post(
        f"/api/v1/reviews/{review}/findings",
        json={
            "severity": "high",
            "principle": "reliability_accuracy",
            "text": "Wrong answers.",
            "case_result_ids": [worst["case_result_id"]],
            "ledger_seqs": worst["ledger_seqs"],
        },
        headers=sup,
    )
    assert r.status_code == 200 and r.json()["findings"][0]["number"] == 1
    r = client.post(
        f"/api/v1/reviews/{review}/actions",
        json={"text": "Fix.", "due_on": "2027-01-31", "finding": 1},
        headers=sup,
    )
    assert r.json()["actions"][0]["due_on"] == "2027-01-31"
    before = _ledger_size()
    r = client.post(f"/api/v1/reviews/{review}/responses", json={"text": "On it.", "finding": 1}, headers=b)
    assert r.status_code == 404
    r = client.post(f"/api/v1/reviews/{review}/decision", json={"decision": "accepted"}, headers=a)
    assert r.status_code == 403 and "only supervisors decide" in r.json()["error"]["message"]
    assert _ledger_size() == before  # refused steps leave nothing behind
    r = client.post(f"/api/v1/reviews/{review}/responses", json={"text": "On it.", "finding": 1}, headers=a)
    assert r.status_code == 200 and r.json()["thread"][-1]["text"] == "On it."
    r = client.post(
        f"/api/v1/reviews/{review}/decision", json={"decision": "changes_requested", "note": "n"}, headers=sup
    )
    assert r.json()["status"] == "changes_requested"
    assert [e["kind"] for e in client.get(f"/api/v1/reviews/{review}", headers=a).json()["thread"]] == [
        "opened",
        "finding_added",
        "action_added",
        "responded",
        "decided",
    ]
    assert [x["id"] for x in client.get("/api/v1/reviews", headers=b).json()] == []
    assert [x["id"] for x in client.get("/api/v1/reviews", headers=a).json()] == [review]


def test_bad_input_is_refused_with_a_clear_message(client: TestClient, people: dict) -> None:
    card = client.post(f"/api/v1/trials/{people['trial']}/scorecards", headers=people["a"]).json()
    review = client.post("/api/v1/reviews", json={"scorecard_id": card["id"]}, headers=people["sup"]).json()[
        "id"
    ]
    r = client.post(
        f"/api/v1/reviews/{review}/findings",
        json={"severity": "urgent", "principle": "fairness", "text": "t"},
        headers=people["sup"],
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "severity"
    r = client.post(f"/api/v1/reviews/{review}/decision", json={"decision": "maybe"}, headers=people["sup"])
    assert r.status_code == 400 and r.json()["error"]["param"] == "decision"


def test_exit_report_and_bundle_downloads(client: TestClient, people: dict) -> None:
    from finsandbox.supervision import bundles, keys

    r = client.get("/api/v1/workspaces/ws-a/exit-report", headers=people["a"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Exit report: ws-a assistant" in r.text
    r = client.get("/api/v1/workspaces/ws-a/exit-report?format=pdf", headers=people["sup"])
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert client.get("/api/v1/workspaces/ws-a/exit-report", headers=people["b"]).status_code == 404
    r = client.post("/api/v1/workspaces/ws-a/bundle?pdf=false", headers=people["a"])
    assert r.headers["content-type"] == "application/zip"
    key = client.get("/api/v1/bundles/public-key").json()
    assert key["key_id"] == keys.key_id(keys.load_public_key(key["pem"]))
    path = zipfile.Path(io.BytesIO(r.content))
    assert (path / "manifest.json").exists()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "b.zip"
        f.write_bytes(r.content)
        assert bundles.verify_bundle(f, keys.load_public_key(key["pem"])).ok


def test_insights_are_for_supervisors(client: TestClient, people: dict) -> None:
    from finsandbox.programme import get_workspace
    from finsandbox.supervision.cohorts import add_workspace, create_cohort

    with session_scope(write=True) as s:
        c = create_cohort(s, name="c1", themes=[], actor="t")
        add_workspace(s, c, get_workspace(s, "ws-a"), actor="t")
    r = client.get("/api/v1/cohorts/c1/insights", headers=people["a"])
    assert r.status_code == 403 and "only supervisors see cohort insights" in r.json()["error"]["message"]
    r = client.get("/api/v1/cohorts/c1/insights", headers=people["sup"])
    assert r.status_code == 200
    assert r.json()["overall"] == {
        "suppressed": True,
        "reason": "fewer than 3 institutions",
        "institutions": None,
        "use_cases": None,
        "mean": None,
        "median": None,
        "q1": None,
        "q3": None,
    }
    r = client.get("/api/v1/cohorts/c1/insights?k=1", headers=people["sup"])
    assert r.status_code == 400 and "may only be raised" in r.json()["error"]["message"]


def test_the_api_is_documented_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/trials/{trial_id}/scorecards", "post"),
        ("/api/v1/scorecards/compare", "get"),
        ("/api/v1/reviews/{review_id}/decision", "post"),
        ("/api/v1/workspaces/{slug}/exit-report", "get"),
        ("/api/v1/workspaces/{slug}/bundle", "post"),
        ("/api/v1/cohorts/{name}/insights", "get"),
    ]:
        assert method in paths[path], path
    assert "ReviewOut" in schema["components"]["schemas"]
    assert "PersonalToken" in schema["components"]["securitySchemes"]
    decision = paths["/api/v1/reviews/{review_id}/decision"]["post"]
    assert decision["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ReviewOut")


def test_a_read_only_token_reads_but_cannot_write(client: TestClient, people: dict) -> None:
    from finsandbox.access.tokens import create_token
    from finsandbox.errors import InvalidRequest
    from tests.supervision.helpers import make_supervisor

    email = make_supervisor()
    with session_scope(write=True) as s:
        sup = user(s, email)
        secret = create_token(s, sup, name="dashboards", actor="test", scopes=["read"]).secret
        with pytest.raises(InvalidRequest, match="unknown scope admin"):
            create_token(s, sup, name="x", actor="test", scopes=["admin"])
    reader = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/v1/trials/{people['trial']}/scorecards", headers=reader).status_code == 200
    before = _ledger_size()
    r = client.post(f"/api/v1/trials/{people['trial']}/scorecards", headers=reader)
    assert r.status_code == 403 and "may not write (its scopes: read)" in r.json()["error"]["message"]
    assert _ledger_size() == before
