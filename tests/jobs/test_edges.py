"""Jobs from the outside: the JSON API's shapes and statuses, who may do what (other banks get 404),
and the CLI's exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from finsandbox.store import session_scope
from tests.jobs.conftest import job, run_queue, submit, workspace
from tests.supervision.helpers import make_operator, make_supervisor, user


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
def people(db: str, upstream: Any) -> dict[str, Any]:
    a = workspace(upstream.url, slug="ws-a", bank="Alpha Bank", rows=3)
    b = workspace(upstream.url, slug="ws-b", bank="Beta Bank", rows=3)
    return {
        "a": _token(a.member_email),
        "b": _token(b.member_email),
        "sup": _token(make_supervisor()),
        "op": _token(make_operator()),
        "ws_a": a,
        "ws_b": b,
    }


BODY = {"kind": "batch_inference", "params": {"dataset": "questions", "endpoint": "stub"}}


def test_submit_poll_and_download_over_the_api(client: TestClient, people: dict) -> None:
    r = client.post("/api/v1/workspaces/ws-a/jobs", json=BODY, headers=people["a"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["state"] == "queued" and body["kind"] == "batch_inference" and body["workspace"] == "ws-a"
    assert body["estimate"] == {"tokens": 3 * 328.0} and body["progress"]["fraction"] is None
    job_id = body["id"]
    assert [j["id"] for j in client.get("/api/v1/workspaces/ws-a/jobs", headers=people["a"]).json()] == [
        job_id
    ]
    assert client.get("/api/v1/jobs?state=queued", headers=people["a"]).json()[0]["id"] == job_id
    assert run_queue() == [(job_id, "succeeded")]
    r = client.get(f"/api/v1/jobs/{job_id}", headers=people["a"])
    done = r.json()
    assert done["state"] == "succeeded" and done["final"] and done["progress"]["fraction"] == 1.0
    assert done["artifacts"] == ["outputs.jsonl"] and done["used"]["tokens"] > 0
    r = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs.jsonl", headers=people["a"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(x)["row"] for x in r.text.splitlines()] == [0, 1, 2]
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/..%2Fsecret", headers=people["a"]).status_code == 404
    r = client.post(f"/api/v1/jobs/{job_id}/resume", headers=people["a"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    kinds = client.get("/api/v1/job-kinds", headers=people["a"]).json()
    assert {"batch_inference", "batch_trial"} <= {k["name"] for k in kinds}


def test_bad_submissions_are_4xx_naming_the_field(client: TestClient, people: dict) -> None:
    url = "/api/v1/workspaces/ws-a/jobs"
    r = client.post(
        url, json={"kind": "batch_inference", "params": {"endpoint": "stub"}}, headers=people["a"]
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "dataset"
    r = client.post(url, json={"kind": "warp", "params": {}}, headers=people["a"])
    assert r.status_code == 400 and "unknown job kind 'warp'" in r.json()["error"]["message"]
    r = client.put("/api/v1/workspaces/ws-a/allocation", json={"tokens": 10}, headers=people["op"])
    assert r.status_code == 200 and r.json()["tokens"] == {"limit": 10, "used": 0, "left": 10}
    r = client.post(url, json=BODY, headers=people["a"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "allocation_exceeded"
    assert r.json()["error"]["param"] == "tokens"


def test_who_may_do_what(client: TestClient, people: dict) -> None:
    job_id = client.post("/api/v1/workspaces/ws-a/jobs", json=BODY, headers=people["a"]).json()["id"]
    # another bank: nothing exists
    for method, url in (
        ("get", f"/api/v1/jobs/{job_id}"),
        ("post", f"/api/v1/jobs/{job_id}/cancel"),
        ("post", f"/api/v1/jobs/{job_id}/resume"),
        ("get", f"/api/v1/jobs/{job_id}/artifacts/outputs.jsonl"),
        ("get", "/api/v1/workspaces/ws-a/jobs"),
        ("get", "/api/v1/workspaces/ws-a/allocation"),
    ):
        r = getattr(client, method)(url, headers=people["b"])
        assert r.status_code == 404, (url, r.text)
    assert client.post("/api/v1/workspaces/ws-a/jobs", json=BODY, headers=people["b"]).status_code == 404
    assert client.get("/api/v1/jobs", headers=people["b"]).json() == []
    # supervisors read, change nothing
    assert client.get(f"/api/v1/jobs/{job_id}", headers=people["sup"]).status_code == 200
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=people["sup"]).status_code == 403
    assert client.put("/api/v1/workspaces/ws-a/allocation", json={}, headers=people["sup"]).status_code == 403
    # participants see their allocation, only operators set it
    assert client.get("/api/v1/workspaces/ws-a/allocation", headers=people["a"]).status_code == 200
    r = client.put("/api/v1/workspaces/ws-a/allocation", json={"tokens": 5}, headers=people["a"])
    assert r.status_code == 403 and "only operators" in r.json()["error"]["message"]
    r = client.put("/api/v1/workspaces/ws-a/allocation", json={"tokens": -5}, headers=people["op"])
    assert r.status_code == 400
    # the owner cancels their queued job
    r = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=people["a"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled" and r.json()["resumable"]


def finsandbox(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "FINSANDBOX_ACTOR": "cli-test",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    return subprocess.run(
        [sys.executable, "-m", "finsandbox", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_submit_watch_and_allocations(db: str, upstream: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from finsandbox import cli

    prog = workspace(upstream.url, slug="ws-cli", rows=2)
    monkeypatch.setattr(cli.console, "width", 250)
    runner = CliRunner()
    r = runner.invoke(
        cli.app,
        [
            "job",
            "submit",
            "batch_inference",
            "-w",
            "ws-cli",
            "-p",
            "dataset=questions",
            "-p",
            "endpoint=stub",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    job_id = json.loads(r.stdout)["id"]
    r = runner.invoke(cli.app, ["job", "run-queue"])
    assert r.exit_code == 0 and f"job {job_id}: succeeded" in r.output
    r = runner.invoke(cli.app, ["job", "watch", job_id])
    assert r.exit_code == 0 and "succeeded" in r.output and "2/2" in r.output
    r = runner.invoke(cli.app, ["job", "artifact", job_id, "outputs.jsonl"])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2
    r = runner.invoke(cli.app, ["job", "allocation", "set", "ws-cli", "--tokens", "50"])
    assert r.exit_code == 0
    r = runner.invoke(cli.app, ["job", "allocation", "show", "ws-cli", "--json"])
    data = json.loads(r.stdout)
    assert data["tokens"]["limit"] == 50 and data["tokens"]["used"] == job(job_id).tokens
    assert data["cpu_seconds"]["limit"] is None
    # errors: one line, exit status 1
    refused = finsandbox(
        "job", "submit", "batch_inference", "-w", "ws-cli", "-p", "dataset=questions", "-p", "endpoint=stub"
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")
    assert "allocation" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    bad = finsandbox("job", "submit", "batch_inference", "-w", "ws-cli", "-p", "dataset")
    assert bad.returncode == 1 and "--param takes key=value" in bad.stderr
    other = finsandbox("job", "show", job_id, "--as", "nobody@nowhere.example.com")
    assert other.returncode == 1 and other.stderr.startswith("error: ")
    denied = finsandbox("job", "allocation", "set", "ws-cli", "--tokens", "9", "--as", prog.member_email)
    assert denied.returncode == 1 and "only operators set compute allocations" in denied.stderr
    missing = finsandbox("job", "cancel", "0123456789abcdef")
    assert missing.returncode == 1 and "no job" in missing.stderr


def test_cli_watch_exits_1_for_a_job_that_did_not_succeed(db: str, upstream: Any) -> None:
    from finsandbox import cli
    from finsandbox.jobs.service import cancel, get_job

    prog = workspace(upstream.url, slug="ws-cli", rows=2)
    job_id = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    with session_scope(write=True) as s:
        cancel(s, get_job(s, job_id), actor="test")
    r = CliRunner().invoke(cli.app, ["job", "watch", job_id])
    assert r.exit_code == 1 and "cancelled" in r.output
