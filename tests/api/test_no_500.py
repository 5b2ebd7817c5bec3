"""The JSON API answers out-of-range integers, unpaired surrogates and deep nesting with a 400 in the
error shape, writing nothing; its OpenAPI document is valid and fuzzing it finds no 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def sup(db: str) -> dict[str, str]:
    from finsandbox.access.tokens import create_token

    email = make_supervisor()
    with session_scope(write=True) as s:
        return {"Authorization": f"Bearer {create_token(s, user(s, email), name='t', actor='test').secret}"}


def _ledger() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def _review(client: TestClient, sup: dict[str, str]) -> str:
    ws, _ = make_workspace("ws-a", "Alpha Bank")
    trial = make_trial(ws, rows("tiny/answers", 2, 1))
    card = client.post(f"/api/v1/trials/{trial}/scorecards", headers=sup).json()
    return str(client.post("/api/v1/reviews", json={"scorecard_id": card["id"]}, headers=sup).json()["id"])


def test_integers_beyond_64_bits_are_a_400(client: TestClient, sup: dict[str, str]) -> None:
    review = _review(client, sup)
    before = _ledger()
    big = 2**64 + 1
    attempts = [
        (
            f"/api/v1/reviews/{review}/actions",
            {"text": "fix", "due_on": "2030-01-01", "finding": big},
            "finding",
        ),
        ("/api/v1/cohorts", {"name": "Big", "min_group_size": big}, "min_group_size"),
        (
            f"/api/v1/reviews/{review}/findings",
            {"severity": "high", "principle": "fairness", "text": "x", "ledger_seqs": [big]},
            "ledger_seqs",
        ),
    ]
    for url, body, field in attempts:
        r = client.post(url, json=body, headers=sup)
        assert r.status_code == 400, (url, r.text)
        assert field in r.json()["error"]["message"]
    assert _ledger() == before


def test_unpaired_surrogates_and_deep_nesting_are_a_400(client: TestClient, sup: dict[str, str]) -> None:
    before = _ledger()
    headers = {**sup, "Content-Type": "application/json"}
    r = client.post("/api/v1/cohorts", content=b'{"name": "Bad \\ud800 name"}', headers=headers)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"], r.text
    deep = b'{"name": "Deep", "themes": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = client.post("/api/v1/cohorts", content=deep, headers=headers)
    assert r.status_code == 400, r.text
    assert _ledger() == before


def test_the_openapi_document_resolves_every_reference(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            assert {"400", "401", "404"} <= set(op["responses"]), (method, path)
