"""OpenAI features are passed through where the backend supports them and refused by name where it
does not, never silently dropped."""

from __future__ import annotations

import json
from typing import Any

import httpx
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


def test_tools_reach_an_openai_upstream(client: TestClient, remote: Any, upstream: processes.Process) -> None:
    tools = [{"type": "function", "function": {"name": "balance", "parameters": {}}}]
    body = chat_body("remote", tools=tools, tool_choice="required", parallel_tool_calls=False)
    r = client.post(URL, json=body, headers=auth(remote.secret))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "balance"
    sent = upstream_requests(upstream.url)[-1]
    assert (sent["tools"], sent["tool_choice"], sent["parallel_tool_calls"]) == (tools, "required", False)


def test_the_embedded_backend_refuses_tools_by_name(client: TestClient, db: str, make_programme: Any) -> None:
    prog = make_programme()  # llamacpp: refused before any model is loaded
    body = chat_body(prog.endpoint, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    error = assert_openai_error(client.post(URL, json=body, headers=auth(prog.secret)), 400, says="tool")
    assert error["param"] == "tools"


@pytest.mark.parametrize("name", ["frobnicate", "prompt", "best_of"])
def test_an_unrecognized_argument_is_a_400_naming_it(
    client: TestClient, remote: Any, upstream: processes.Process, name: str
) -> None:
    r = client.post(URL, json=chat_body("remote", **{name: 1}), headers=auth(remote.secret))
    error = assert_openai_error(r, 400, says=f"unrecognized request argument supplied: {name}")
    assert error["param"] == name
    assert upstream_requests(upstream.url) == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 2}, "n"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"frequency_penalty": 2.1}, "frequency_penalty"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"seed": 2**64}, "seed"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"max_tokens": 10**30}, "max_tokens"),
        ({"logit_bias": {"50256": 101}}, "logit_bias"),
        ({"logit_bias": {"hello": 1}}, "logit_bias"),
        ({"service_tier": "flex"}, "service_tier"),
        ({"store": True}, "store"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_an_out_of_range_or_unsupported_value_is_a_400_naming_it(
    client: TestClient, remote: Any, upstream: processes.Process, params: dict, param: str
) -> None:
    r = client.post(URL, json=chat_body("remote", **params), headers=auth(remote.secret))
    assert assert_openai_error(r, 400)["param"] == param
    assert upstream_requests(upstream.url) == []


def test_sampling_options_reach_an_openai_upstream(
    client: TestClient, remote: Any, upstream: processes.Process
) -> None:
    options = {"presence_penalty": 0.5, "frequency_penalty": -0.5, "logit_bias": {"1234": -100}}
    extra = {"user": "u-1", "metadata": {"team": "risk"}, "store": False, "service_tier": "auto", "n": 1}
    r = client.post(URL, json=chat_body("remote", **options, **extra), headers=auth(remote.secret))
    assert r.status_code == 200, r.text
    sent = upstream_requests(upstream.url)[-1]
    assert {k: sent[k] for k in options} == options
    assert not {"user", "metadata", "store", "service_tier"} & set(sent)  # nothing for a provider to keep


def test_the_embedded_backend_refuses_logit_bias_by_name(
    client: TestClient, db: str, make_programme: Any
) -> None:
    prog = make_programme()
    body = chat_body(prog.endpoint, logit_bias={"1": 5})
    assert (
        assert_openai_error(client.post(URL, json=body, headers=auth(prog.secret)), 400)["param"]
        == "logit_bias"
    )


def test_an_unknown_response_format_is_a_400(client: TestClient, remote: Any) -> None:
    body = chat_body("remote", response_format={"type": "yaml"})
    assert_openai_error(client.post(URL, json=body, headers=auth(remote.secret)), 400, says="response_format")


# Another customer's data in a JSON answer, part of it hidden in JSON escapes a text guard cannot read.
LEAKY_JSON = (
    '{"customer": "Chan Tai Man", "hkid": "A123456\\u00283\\u0029", '
    '"note": "he said \\"call me at 9123 4567\\"", "email": "chan.taiman\\u0040example.com", "score": 0.7}'
)


@pytest.mark.parametrize("stream", [False, True])
def test_a_json_answer_is_masked_inside_its_strings_and_still_parses(
    client: TestClient, remote: Any, upstream: processes.Process, stream: bool
) -> None:
    httpx.post(f"{upstream.url}/_control", json={"reply": LEAKY_JSON}, timeout=5)
    try:
        body = chat_body("remote", response_format={"type": "json_object"}, stream=stream)
        r = client.post(URL, json=body, headers=auth(remote.secret))
    finally:
        httpx.post(f"{upstream.url}/_control", json={"reply": None}, timeout=5)
    assert r.status_code == 200, r.text
    if stream:
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))
    else:
        text = r.json()["choices"][0]["message"]["content"]
    answer = json.loads(text)
    assert set(answer) == {"customer", "hkid", "note", "email", "score"} and answer["score"] == 0.7
    for secret in ("Chan Tai Man", "A123456", "9123 4567", "chan.taiman@example.com"):
        assert secret not in json.dumps(answer, ensure_ascii=False)
    assert answer["note"].startswith('he said "call me at ')
