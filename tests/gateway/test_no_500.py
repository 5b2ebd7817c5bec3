"""Inputs from the security review that used to reach a 500 now get a 400 (or 415) naming the problem,
with nothing metered or recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    assert_openai_error,
    auth,
    gateway_entries,
    quota_requests,
    usage_rows,
)

URL = "/v1/chat/completions"


@pytest.fixture
def prog(db: str, make_programme: Any) -> Any:
    return make_programme()


def _post(client: TestClient, prog: Any, body: bytes, content_type: str = "application/json") -> Any:
    return client.post(URL, content=body, headers={**auth(prog.secret), "Content-Type": content_type})


def _nothing_recorded(prog: Any) -> None:
    assert gateway_entries() == [] and usage_rows() == [] and quota_requests(prog.key_prefix) == 0
    assert_ledger_consistent()


def test_json_nested_5000_deep_is_a_400(client: TestClient, prog: Any) -> None:
    deep = b'{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 5000
    deep += b"]" * 5000 + b"}"
    assert_openai_error(_post(client, prog, deep), 400, says="nests deeper than")
    nested: Any = []
    for _ in range(100):
        nested = [nested]
    body = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "x": nested})
    assert_openai_error(_post(client, prog, body.encode()), 400, says="nests deeper than")
    _nothing_recorded(prog)


@pytest.mark.parametrize("text", ["\\ud800", "ok \\udfff then", "\\ud83d alone"])
def test_a_lone_surrogate_is_a_400_naming_the_field(client: TestClient, prog: Any, text: str) -> None:
    body = '{"model": "smollm2", "messages": [{"role": "user", "content": "' + text + '"}]}'
    error = assert_openai_error(_post(client, prog, body.encode()), 400, says="unpaired UTF-16 surrogate")
    assert error["param"] == "messages.0.content"
    _nothing_recorded(prog)


def test_a_paired_surrogate_is_text(db: str) -> None:
    from finsandbox.gateway.schemas import decode_json

    assert decode_json(b'{"t": "\\ud83d\\ude00"}') == {"t": "\U0001f600"}


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "seed"])
def test_integers_beyond_their_range_are_a_400(client: TestClient, prog: Any, field: str) -> None:
    body = {"model": prog.endpoint, "messages": [{"role": "user", "content": "hi"}], field: 10**30}
    error = assert_openai_error(_post(client, prog, json.dumps(body).encode()), 400, says=field)
    assert error["param"] == field
    _nothing_recorded(prog)


def test_a_body_that_is_not_declared_json_is_a_415(client: TestClient, prog: Any) -> None:
    body = json.dumps({"model": prog.endpoint, "messages": [{"role": "user", "content": "hi"}]}).encode()
    assert_openai_error(_post(client, prog, body, "text/plain"), 415, code="unsupported_media_type")
    _nothing_recorded(prog)
