"""Bad input gets the right status and an OpenAI-style error naming the problem.

Each case also checks what must not happen: no traceback in the body, no unexpected-error
log, no ledger fork, no half-written rows, and no quota spent by a request that was refused
before it reached a model.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from finsandbox.testing.processes import free_port
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    assert_openai_error,
    auth,
    chat_body,
    expire_key,
    gateway_entries,
    quota_requests,
    revoke,
    usage_rows,
)

URL = "/v1/chat/completions"


@pytest.fixture
def prog(db: str, make_programme: Any) -> Any:
    return make_programme(rpm=100)


@pytest.fixture(autouse=True)
def no_unexpected_errors(caplog: pytest.LogCaptureFixture) -> Any:
    """Fail a test whose request reached the catch-all handler (a 500 with a logged traceback)."""
    with caplog.at_level(logging.ERROR, logger="finsandbox"):
        yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def assert_nothing_recorded(prefix: str) -> None:
    assert gateway_entries() == []
    assert usage_rows() == []
    assert quota_requests(prefix) == 0
    assert_ledger_consistent()


BAD_BODIES: list[tuple[str, bytes, str, str | None]] = [
    ("malformed JSON", b'{"model": "smollm2", "messages": [', "not valid JSON", None),
    ("not an object", b'["smollm2"]', "must be a JSON object", None),
    ("empty body", b"", "body is empty", None),
    ("not UTF-8", b'{"model": "\xff\xfe"}', "not valid UTF-8", None),
    (
        "missing model",
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
        "'model'",
        "model",
    ),
    ("missing messages", json.dumps({"model": "smollm2"}).encode(), "'messages'", "messages"),
    ("model not a string", json.dumps(chat_body("smollm2") | {"model": 5}).encode(), "'model'", "model"),
    (
        "messages not a list",
        json.dumps({"model": "smollm2", "messages": "hi"}).encode(),
        "'messages'",
        "messages",
    ),
    (
        "max_tokens not a number",
        json.dumps(chat_body("smollm2", max_tokens="ten")).encode(),
        "'max_tokens'",
        "max_tokens",
    ),
    (
        "max_tokens zero",
        json.dumps(chat_body("smollm2", max_tokens=0)).encode(),
        "'max_tokens'",
        "max_tokens",
    ),
    (
        "temperature out of range",
        json.dumps(chat_body("smollm2", temperature=3)).encode(),
        "'temperature'",
        "temperature",
    ),
    (
        "unknown role",
        json.dumps({"model": "smollm2", "messages": [{"role": "wizard", "content": "hi"}]}).encode(),
        "'messages.0.role'",
        "messages.0.role",
    ),
    ("n above one", json.dumps(chat_body("smollm2", n=2)).encode(), "'n'", "n"),
    (
        "empty messages",
        json.dumps({"model": "smollm2", "messages": []}).encode(),
        "'messages' must contain at least one message",
        "messages",
    ),
    (
        "only empty content",
        json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": " "}]}).encode(),
        "every message is empty",
        "messages",
    ),
    (
        "image content part",
        json.dumps(
            {"model": "smollm2", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}
        ).encode(),
        "only 'text' parts are supported",
        "messages.content",
    ),
]


@pytest.mark.parametrize(("case", "body", "says", "param"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_body_is_a_named_400(
    client: TestClient, prog: Any, case: str, body: bytes, says: str, param: str | None
) -> None:
    response = client.post(
        URL, content=body, headers={**auth(prog.secret), "Content-Type": "application/json"}
    )
    error = assert_openai_error(response, 400, says=says)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert_nothing_recorded(prog.key_prefix)


def test_bad_body_without_a_key_is_401_first(client: TestClient, prog: Any) -> None:
    """An anonymous caller learns only that it needs a key, not what is wrong with its body."""
    response = client.post(URL, content=b'{"model": ', headers={"Content-Type": "application/json"})
    assert_openai_error(response, 401, code="missing_api_key", says="no API key")
    assert_nothing_recorded(prog.key_prefix)


def test_unknown_model_is_404_model_not_found(client: TestClient, prog: Any) -> None:
    response = client.post(URL, json=chat_body("gpt-5"), headers=auth(prog.secret))
    assert_openai_error(response, 404, code="model_not_found", says="'gpt-5' does not exist")
    assert_nothing_recorded(prog.key_prefix)


def test_bad_trial_header_is_400(client: TestClient, prog: Any) -> None:
    headers = {**auth(prog.secret), "X-Finsandbox-Trial": "no spaces allowed!"}
    error = assert_openai_error(
        client.post(URL, json=chat_body("smollm2"), headers=headers), 400, says="X-Finsandbox-Trial"
    )
    assert error["param"] == "X-Finsandbox-Trial"
    assert_nothing_recorded(prog.key_prefix)


@pytest.mark.parametrize(
    ("header", "code", "says"),
    [
        (None, "missing_api_key", "no API key"),
        ("Basic dXNlcjpwYXNz", "missing_api_key", "Bearer"),
        ("Bearer sk-not-ours", "invalid_api_key", "not a finsandbox key"),
        ("Bearer fsk_00000000_forged", "invalid_api_key", "not valid"),
    ],
    ids=["missing", "wrong scheme", "foreign key", "unknown key"],
)
def test_invalid_key_is_401(client: TestClient, prog: Any, header: str | None, code: str, says: str) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (("POST", URL), ("GET", "/v1/models")):
        response = client.request(
            method, path, json=chat_body("smollm2") if method == "POST" else None, headers=headers
        )
        error = assert_openai_error(response, 401, code=code, says=says)
        assert error["type"] == "authentication_error"
    assert_nothing_recorded(prog.key_prefix)


def test_right_prefix_wrong_secret_is_401(client: TestClient, prog: Any) -> None:
    forged = prog.secret[:-4] + ("AAAA" if not prog.secret.endswith("AAAA") else "BBBB")
    response = client.post(URL, json=chat_body("smollm2"), headers=auth(forged))
    assert_openai_error(response, 401, code="invalid_api_key", says="not valid")
    assert_nothing_recorded(prog.key_prefix)


def test_expired_key_is_401(client: TestClient, prog: Any) -> None:
    expire_key(prog.key_prefix)
    response = client.post(URL, json=chat_body("smollm2"), headers=auth(prog.secret))
    assert_openai_error(response, 401, code="expired_api_key", says=f"{prog.key_prefix} has expired")
    assert_nothing_recorded(prog.key_prefix)


def test_revoked_key_is_401_at_once(client: TestClient, prog: Any) -> None:
    assert client.get("/v1/models", headers=auth(prog.secret)).status_code == 200
    revoke(prog.key_prefix)
    response = client.post(URL, json=chat_body("smollm2"), headers=auth(prog.secret))
    assert_openai_error(response, 401, code="revoked_api_key", says=f"{prog.key_prefix} has been revoked")
    assert_openai_error(client.get("/v1/models", headers=auth(prog.secret)), 401, code="revoked_api_key")
    assert_nothing_recorded(prog.key_prefix)


def test_oversized_body_is_413(client: TestClient, prog: Any) -> None:
    big = chat_body("smollm2", "x" * 1_100_000)
    response = client.post(URL, json=big, headers=auth(prog.secret))
    assert_openai_error(response, 413, code="payload_too_large", says="larger than the limit")
    assert_nothing_recorded(prog.key_prefix)


def test_unknown_route_is_openai_shaped_404(client: TestClient, prog: Any) -> None:
    assert_openai_error(client.get("/v1/nothing-here", headers=auth(prog.secret)), 404, says="no such route")


def test_prompt_over_the_context_window_is_400(client: TestClient, db: str, make_programme: Any) -> None:
    prog = make_programme(endpoint="tiny-context", config={"n_ctx": 256})
    body = chat_body("tiny-context", "account balance " * 300, max_tokens=8)
    response = client.post(URL, json=body, headers=auth(prog.secret))
    error = assert_openai_error(
        response, 400, code="context_length_exceeded", says="maximum context length is 256 tokens"
    )
    assert error["param"] == "messages"
    # max_tokens that does not fit beside a short prompt is refused the same way, naming max_tokens.
    response = client.post(
        URL, json=chat_body("tiny-context", "Hi", max_tokens=1000), headers=auth(prog.secret)
    )
    error = assert_openai_error(
        response, 400, code="context_length_exceeded", says="max_tokens can be at most"
    )
    assert error["param"] == "max_tokens"
    # Both reached the model, so both are metered and in the ledger, as refusals.
    assert [r.status for r in usage_rows()] == ["error:context_length_exceeded"] * 2
    assert all(r.completion_tokens == 0 for r in usage_rows())
    assert_ledger_consistent()


def test_unreachable_upstream_is_503_naming_it(client: TestClient, db: str, make_programme: Any) -> None:
    port = free_port()  # nothing listens here
    prog = make_programme(
        endpoint="remote",
        backend="openai",
        config={"base_url": f"http://127.0.0.1:{port}/v1", "model": "m", "retries": 1},
    )
    for stream in (False, True):
        response = client.post(URL, json=chat_body("remote", stream=stream), headers=auth(prog.secret))
        error = assert_openai_error(response, 503, code="upstream_unavailable", says="cannot be reached")
        assert f"127.0.0.1:{port}" in error["message"]
        assert error["type"] == "upstream_error"
    rows = usage_rows()
    assert [(r.status, r.stream) for r in rows] == [
        ("error:upstream_unavailable", False),
        ("error:upstream_unavailable", True),
    ]
    payloads = [json.loads(e.payload) for e in gateway_entries()]
    assert all("cannot be reached" in p["error"] for p in payloads)
    assert_ledger_consistent()
