"""The whole JSON API a bank's CI pipeline uses, against a real server: an endpoint, a CSV dataset, an
own suite saved from it, a trial launched and polled to the end (its scorecard built at completion),
results, export, keys, and isolation from another bank; /docs served without any CDN."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_api import _token
from tests.conftest import empty_tables
from tests.supervision.helpers import make_workspace


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[dict[str, Any]]:
    from finsandbox.testing.processes import server, upstream

    _, owner_a = make_workspace("ci-a", "Alpha Bank")
    _, owner_b = make_workspace("ci-b", "Beta Bank")
    tokens = {"a": _token(owner_a), "b": _token(owner_b)}
    try:
        with (
            upstream() as up,
            server(env={"FINSANDBOX_DATABASE_URL": database_url}) as srv,
            httpx.Client(base_url=f"{srv.url}/api/v1", timeout=30) as client,
        ):
            yield {"client": client, "upstream": up.url, "url": srv.url, **tokens}
    finally:
        empty_tables(database_url)


def test_a_ci_pipeline_runs_its_own_suite_and_gets_a_scorecard(live: dict[str, Any]) -> None:
    c: httpx.Client = live["client"]
    a, b = live["a"], live["b"]
    r = c.post(
        "/workspaces/ci-a/endpoints",
        json={
            "name": "candidate",
            "backend": "openai",
            "config": {"base_url": f"{live['upstream']}/v1", "model": "m"},
        },
        headers=a,
    )
    assert r.status_code == 201, r.text
    csv = b"id,input,expected\nq1,Say hello,hello\nq2,What is 2+2?,4\nq3,Name a colour,blue\n"
    r = c.post("/workspaces/ci-a/datasets", files={"file": ("qa.csv", csv, "text/csv")}, headers=a)
    assert r.status_code == 201 and r.json()["is_case_set"], r.text
    dataset = r.json()["id"]
    suite = {
        "name": "smoke",
        "dataset_id": dataset,
        "scorers": [{"name": "normalised_match"}],
        "principles": ["reliability_accuracy"],
        "system_prompt": "Answer in one word.",
    }
    bad = c.post(
        "/workspaces/ci-a/suites",
        json={**suite, "expected_column": "gold", "principles": ["vibes"]},
        headers=a,
    )
    assert bad.status_code == 400
    message = bad.json()["error"]["message"]
    assert "no column 'gold'" in message and "'vibes' is not a principle" in message  # every problem at once
    r = c.post("/workspaces/ci-a/suites", json=suite, headers=a)
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "own:smoke@v1" and r.json()["path"].endswith("smoke/v1/suite.yaml")
    assert c.post("/workspaces/ci-a/suites", json=suite, headers=a).json()["ref"] == "own:smoke@v2"
    refs = [s["ref"] for s in c.get("/workspaces/ci-a/suites", headers=a).json()]
    assert "customer_service" in refs and "own:smoke@v2" in refs

    r = c.post(
        "/workspaces/ci-a/trials",
        json={"suite": "own:smoke", "endpoint": "candidate", "max_cases": 0},
        headers=a,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_cases"
    r = c.post("/workspaces/ci-a/trials", json={"suite": "own:smoke@v1", "endpoint": "candidate"}, headers=a)
    assert r.status_code == 202, r.text
    trial = r.json()["id"]
    # Another bank cannot see or cancel it.
    assert c.get(f"/trials/{trial}", headers=b).status_code == 404
    assert c.post(f"/trials/{trial}/cancel", headers=b).status_code == 404
    deadline = time.monotonic() + 120
    while True:
        body = c.get(f"/trials/{trial}", headers=a).json()
        if body["final"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["status"] == "completed", body
    assert body["done_cases"] == 3
    for _ in range(40):  # the scorecard is built right after the trial's last case
        body = c.get(f"/trials/{trial}", headers=a).json()
        if body["scorecard_id"]:
            break
        time.sleep(0.25)
    assert body["scorecard_id"] and body["overall_grade"]
    page = c.get(f"/trials/{trial}/results", params={"limit": 2}, headers=a).json()
    assert page["total"] == 3 and len(page["results"]) == 2
    export = c.get(f"/trials/{trial}/export", params={"format": "csv"}, headers=a)
    assert export.status_code == 200 and export.text.startswith("item,suite,recipe")
    cancel = c.post(f"/trials/{trial}/cancel", headers=a)
    assert cancel.status_code == 409 and "already completed" in cancel.json()["error"]["message"]


def test_keys_and_policy_over_the_api(live: dict[str, Any]) -> None:
    c: httpx.Client = live["client"]
    a, b = live["a"], live["b"]
    r = c.post("/workspaces/ci-a/keys", json={"name": "ci", "rpm_limit": -1}, headers=a)
    assert r.status_code == 400 and r.json()["error"]["param"] == "rpm_limit"
    r = c.post("/workspaces/ci-a/keys", json={"name": "ci", "rpm_limit": 60}, headers=a)
    assert r.status_code == 201 and re.fullmatch(r"fsk_[0-9a-f]{8}_\S+", r.json()["secret"])
    prefix = r.json()["prefix"]
    listed = c.get("/workspaces/ci-a/keys", headers=a).json()
    assert prefix in [k["prefix"] for k in listed] and all("secret" not in k for k in listed)
    assert c.get("/workspaces/ci-a/keys", headers=b).status_code == 404
    assert c.post(f"/workspaces/ci-a/keys/{prefix}/revoke", headers=a).json()["state"] == "revoked"
    r = c.put("/workspaces/ci-a/guard-policy", json={"text": "input:\n  - guard: no_such_guard\n"}, headers=a)
    assert r.status_code == 422 and "no_such_guard" in r.json()["error"]["message"]
    assert c.get("/workspaces/ci-a/guard-policy", headers=a).json()["default"] is True


def test_docs_are_served_from_vendored_assets(live: dict[str, Any]) -> None:
    html = httpx.get(f"{live['url']}/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/swagger/") for a in assets)
    assert not re.search(r"https?://", html)
    for asset in assets:
        assert httpx.get(f"{live['url']}{asset}").status_code == 200


def test_the_ci_example_compares_against_the_accepted_scorecard(live: dict[str, Any]) -> None:
    """docs/ci/check_model_version.py end to end: a baseline accepted by a supervisor, a new run, PASS."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import select

    from finsandbox.store import session_scope
    from finsandbox.store.models import Scorecard
    from finsandbox.supervision import reviews as rv
    from tests.supervision.helpers import make_supervisor, user

    sup = make_supervisor()
    with session_scope(write=True) as s:
        card = s.scalars(select(Scorecard).where(Scorecard.workspace_id.isnot(None))).first()
        assert card is not None  # from the first test's trial
        review = rv.open_review(s, user(s, sup), card.id)
        rv.decide(s, user(s, sup), review.id, decision="accepted", note="Baseline for CI.")
    script = Path(__file__).resolve().parents[2] / "docs" / "ci" / "check_model_version.py"
    env = {**os.environ, "FINSANDBOX_URL": live["url"], "FINSANDBOX_TOKEN": live["a"]["Authorization"][7:]}
    args = [
        sys.executable,
        str(script),
        "--workspace",
        "ci-a",
        "--suite",
        "own:smoke@v1",
        "--endpoint",
        "candidate",
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: no principle significantly worse" in done.stdout
    bad = subprocess.run([*args[:-1], "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "error:" in bad.stderr
