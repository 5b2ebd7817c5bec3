"""The embedded llama.cpp model, through the gateway: max_tokens, seed and stop are honoured."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from finsandbox.gateway.backends import ChatRequest
from finsandbox.gateway.backends.llamacpp import LlamaCppBackend
from tests.gateway.gateway_support import auth

pytestmark = pytest.mark.slow

URL = "/v1/chat/completions"
PROMPT = "Write a long story about a bank clerk in Hong Kong who loves numbers."


@pytest.fixture
def prog(db: str, make_programme: Any) -> Any:
    return make_programme()


def ask(client: TestClient, prog: Any, **params: Any) -> dict[str, Any]:
    body = {"model": prog.endpoint, "messages": [{"role": "user", "content": PROMPT}], **params}
    response = client.post(URL, json=body, headers=auth(prog.secret))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def text_of(reply: dict[str, Any]) -> str:
    return reply["choices"][0]["message"]["content"]  # type: ignore[no-any-return]


def test_max_tokens_caps_the_answer(client: TestClient, prog: Any) -> None:
    short = ask(client, prog, max_tokens=3, temperature=0)
    longer = ask(client, prog, max_tokens=12, temperature=0)
    assert short["usage"]["completion_tokens"] == 3
    assert short["choices"][0]["finish_reason"] == "length"
    assert longer["usage"]["completion_tokens"] == 12
    # Greedy decoding: the short answer is the start of the longer one.
    assert text_of(longer).startswith(text_of(short))
    assert len(text_of(longer)) > len(text_of(short))


def test_max_completion_tokens_is_honoured_too(client: TestClient, prog: Any) -> None:
    reply = ask(client, prog, max_completion_tokens=4, temperature=0)
    assert reply["usage"]["completion_tokens"] == 4


def test_same_seed_and_temperature_give_the_same_answer(client: TestClient, prog: Any) -> None:
    first = text_of(ask(client, prog, max_tokens=16, temperature=1.0, seed=42))
    ask(client, prog, max_tokens=16, temperature=1.0, seed=7)  # move any shared sampler state on
    second = text_of(ask(client, prog, max_tokens=16, temperature=1.0, seed=42))
    assert first == second


def test_the_seed_changes_a_sampled_answer(client: TestClient, prog: Any) -> None:
    answers = {text_of(ask(client, prog, max_tokens=16, temperature=1.0, seed=seed)) for seed in (1, 2, 3)}
    assert len(answers) > 1


def test_stop_sequence_ends_the_answer_before_it(client: TestClient, prog: Any) -> None:
    full = text_of(ask(client, prog, max_tokens=24, temperature=0))
    words = full.split()
    assert len(words) >= 4, full
    stop = words[3]
    cut = full[: full.index(stop)]
    stopped = ask(client, prog, max_tokens=24, temperature=0, stop=[stop])
    assert text_of(stopped) == cut
    assert stop not in text_of(stopped)
    assert stopped["choices"][0]["finish_reason"] == "stop"
    # A single string works as well as a list, as in OpenAI's API.
    assert text_of(ask(client, prog, max_tokens=24, temperature=0, stop=stop)) == cut


def test_stop_is_honoured_when_streaming(client: TestClient, prog: Any) -> None:
    full = text_of(ask(client, prog, max_tokens=24, temperature=0))
    stop = full.split()[3]
    body = {
        "model": prog.endpoint,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 24,
        "temperature": 0,
        "stop": [stop],
        "stream": True,
    }
    with client.stream("POST", URL, json=body, headers=auth(prog.secret)) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == full[: full.index(stop)]


ACCOUNT_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "maxLength": 40},
        "branch": {"type": "string", "enum": ["Central", "Wan Chai", "Mong Kok"]},
        "balance": {"type": "integer"},
    },
    "required": ["customer", "branch", "balance"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_is_enforced_by_the_grammar(client: TestClient, prog: Any, stream: bool) -> None:
    import jsonschema

    body = {
        "model": prog.endpoint,
        "messages": [{"role": "user", "content": "Describe a bank account as JSON."}],
        "temperature": 0,
        "max_tokens": 120,
        "stream": stream,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "account", "schema": ACCOUNT_SCHEMA},
        },
    }
    if stream:
        with client.stream("POST", URL, json=body, headers=auth(prog.secret)) as response:
            assert response.status_code == 200
            text = ""
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:]).get("choices") or []:
                        text += choice["delta"].get("content") or ""
    else:
        response = client.post(URL, json=body, headers=auth(prog.secret))
        assert response.status_code == 200, response.text
        text = text_of(response.json())
    jsonschema.validate(json.loads(text), ACCOUNT_SCHEMA)  # a 135M model, held to the schema


def test_response_formats_are_put_in_llama_cpp_python_s_dialect() -> None:
    from finsandbox.gateway.backends.base import ChatRequest
    from finsandbox.gateway.backends.llamacpp import _for_worker

    def sent(fmt: dict[str, Any]) -> Any:
        return _for_worker(ChatRequest(messages=[], response_format=fmt)).response_format

    schema = {"name": "account", "schema": ACCOUNT_SCHEMA}
    assert sent({"type": "json_schema", "json_schema": schema}) == {
        "type": "json_object",
        "schema": ACCOUNT_SCHEMA,
    }
    assert sent({"type": "json_object"}) == {"type": "json_object"}


def test_the_model_worker_is_reached_directly_whatever_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy set for the upstreams (HTTP_PROXY) must not carry calls to the gateway's own model
    worker on loopback: nothing listens at this one, and it would see the worker's key."""
    for name in ("no_proxy", "NO_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    backend = LlamaCppBackend(LlamaCppBackend.Config.model_validate({}))

    async def ask_once() -> str:
        try:
            request = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
            return (await backend.complete(request)).text
        finally:
            await backend.aclose()

    assert asyncio.run(ask_once()).strip()
