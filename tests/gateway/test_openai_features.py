"""OpenAI features are passed through where the backend supports them and refused by name where it
does not, never silently dropped."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_openai_error,
    auth,
    chat_body,
    reset_upstream,
    upstream_config,
    upstream_requests,
)

URL = "/v1/chat/completions"
SCHEMA = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}


@pytest.fixture
def remote(db: str, make_programme: Any, upstream: processes.Process) -> Any:
    reset_upstream(upstream.url)
    return make_programme(endpoint="remote", backend="openai", config=upstream_config(upstream.url))


@pytest.mark.parametrize("fmt", [{"type": "json_object"}, {"type": "json_schema", "json_schema": SCHEMA}])
def test_response_format_reaches_an_openai_upstream(
    client: TestClient, remote: Any, upstream: processes.Process, fmt: dict
) -> None:
    r = client.post(URL, json=chat_body("remote", response_format=fmt), headers=auth(remote.secret))
    assert r.status_code == 200, r.text
    assert upstream_requests(upstream.url)[-1]["response_format"] == fmt


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "function", "function": {"name": "balance", "parameters": {}}}]},
        {"tool_choice": "required"},
        {"functions": [{"name": "balance", "parameters": {}}]},
    ],
)
def test_tools_are_refused_by_name_not_dropped(
    client: TestClient, remote: Any, upstream: processes.Process, extra: dict
) -> None:
    r = client.post(URL, json=chat_body("remote", **extra), headers=auth(remote.secret))
    error = assert_openai_error(r, 400, code="unsupported_parameter", says="does not support tool calling")
    assert error["param"] == "tools"
    assert upstream_requests(upstream.url) == []


def test_the_embedded_backend_refuses_a_json_schema_it_cannot_honour(
    client: TestClient, db: str, make_programme: Any
) -> None:
    prog = make_programme()  # llamacpp: refused before any model is loaded
    body = chat_body(prog.endpoint, response_format={"type": "json_schema", "json_schema": SCHEMA})
    assert_openai_error(client.post(URL, json=body, headers=auth(prog.secret)), 400, says="response_format")


def test_an_unknown_response_format_is_a_400(client: TestClient, remote: Any) -> None:
    body = chat_body("remote", response_format={"type": "yaml"})
    assert_openai_error(client.post(URL, json=body, headers=auth(remote.secret)), 400, says="response_format")
