"""The official `openai` Python client against a real `finsandbox serve` process on loopback.

The endpoint is the embedded SmolLM2 model (llama.cpp), so this is the path a participant's
own app takes: chat, streaming, usage, the errors the client maps to exception classes, and
what the gateway meters and records about each call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from finsandbox import ledger
from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    fresh_quota_window,
    gateway_entries,
    usage_rows,
)

pytestmark = pytest.mark.slow

QUESTION = "Name one colour of the sky."


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[processes.Process]:
    with processes.server() as proc:
        yield proc


def client_for(server: processes.Process, secret: str) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=60)


@pytest.fixture
def prog(db: str, make_programme: Any) -> Any:
    return make_programme()


def test_chat_returns_an_answer_with_usage(server: processes.Process, prog: Any) -> None:
    reply = client_for(server, prog.secret).chat.completions.create(
        model=prog.endpoint,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=8,
        temperature=0,
        seed=1,
    )
    assert reply.object == "chat.completion"
    assert reply.model == prog.endpoint
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_with_include_usage(server: processes.Process, prog: Any) -> None:
    stream = client_for(server, prog.secret).chat.completions.create(
        model=prog.endpoint,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=8,
        temperature=0,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text.strip()
    assert finishes in (["stop"], ["length"])
    # The usage chunk comes last, with no choices, as OpenAI sends it.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert 0 < chunks[-1].usage.completion_tokens <= 8
    # The streamed answer is the one a non-streaming call gives for the same seed and temperature.
    same = client_for(server, prog.secret).chat.completions.create(
        model=prog.endpoint,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=8,
        temperature=0,
        seed=1,
    )
    assert same.choices[0].message.content == text
    # And the metered tokens match what the client was told.
    streamed_row = next(r for r in usage_rows() if r.stream)
    assert streamed_row.completion_tokens == chunks[-1].usage.completion_tokens
    assert streamed_row.status == "ok"


def test_streaming_without_include_usage_sends_no_usage_chunk(server: processes.Process, prog: Any) -> None:
    chunks = list(
        client_for(server, prog.secret).chat.completions.create(
            model=prog.endpoint, messages=[{"role": "user", "content": QUESTION}], max_tokens=4, stream=True
        )
    )
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert len(usage_rows()) == 1  # still metered


def test_bad_key_raises_authentication_error(server: processes.Process, prog: Any) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client_for(server, "fsk_00000000_nope").chat.completions.create(
            model=prog.endpoint, messages=[{"role": "user", "content": QUESTION}], max_tokens=4
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "fsk_00000000_nope").models.list()


def test_unknown_model_raises_not_found(server: processes.Process, prog: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(server, prog.secret).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": QUESTION}], max_tokens=4
        )
    assert caught.value.code == "model_not_found"
    assert "no-such-model" in caught.value.message


def test_requests_per_minute_raise_rate_limit(
    server: processes.Process, db: str, make_programme: Any
) -> None:
    prog = make_programme(rpm=1)
    client = client_for(server, prog.secret)
    fresh_quota_window()
    client.models.list()  # listing models is not a model call and spends no quota
    client.chat.completions.create(
        model=prog.endpoint, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model=prog.endpoint, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    assert caught.value.code == "requests_per_minute_exceeded"
    assert "1 requests per minute" in caught.value.message
    retry_after = int(caught.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert len(usage_rows()) == 1  # the refused call never reached the model


def test_token_budget_raises_rate_limit(server: processes.Process, db: str, make_programme: Any) -> None:
    prog = make_programme(budget=10)
    client = client_for(server, prog.secret)
    client.chat.completions.create(
        model=prog.endpoint, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model=prog.endpoint, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    assert caught.value.code == "token_budget_exhausted"
    assert "token budget of 10" in caught.value.message


def test_models_lists_only_the_keys_workspace(
    server: processes.Process, db: str, make_programme: Any
) -> None:
    alpha = make_programme(slug="ws-alpha", bank="Alpha Bank", endpoint="alpha-model")
    beta = make_programme(slug="ws-beta", bank="Beta Bank", endpoint="beta-model")
    alpha_models = client_for(server, alpha.secret).models.list()
    beta_models = client_for(server, beta.secret).models.list()
    assert [m.id for m in alpha_models.data] == ["alpha-model"]
    assert [m.id for m in beta_models.data] == ["beta-model"]
    assert alpha_models.data[0].owned_by == "ws-alpha"


def test_a_key_cannot_use_another_workspaces_endpoint(
    server: processes.Process, db: str, make_programme: Any
) -> None:
    alpha = make_programme(slug="ws-alpha", bank="Alpha Bank", endpoint="alpha-model")
    make_programme(slug="ws-beta", bank="Beta Bank", endpoint="beta-model")
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(server, alpha.secret).chat.completions.create(
            model="beta-model", messages=[{"role": "user", "content": QUESTION}], max_tokens=2
        )
    assert caught.value.code == "model_not_found"
    assert usage_rows() == []


def test_each_call_is_metered_and_ledgered_without_personal_data(
    server: processes.Process, prog: Any
) -> None:
    from finsandbox.store import session_scope
    from finsandbox.store.models import Trial

    with session_scope(write=True) as s:  # a trial header is honoured only for the key's own trials
        s.add(
            Trial(
                id="trial-42", workspace_id=prog.workspace_id, name="t", created_by="test", status="running"
            )
        )
    email = "chan.tai.man@example.com"
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": f"{QUESTION} By the way, write to me at {email}."},
    ]
    raw = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": prog.endpoint, "messages": messages, "max_tokens": 6, "temperature": 0},
        headers={"Authorization": f"Bearer {prog.secret}", "X-Finsandbox-Trial": "trial-42"},
        timeout=60,
    )
    assert raw.status_code == 200, raw.text
    reply = raw.json()
    answer = reply["choices"][0]["message"]["content"]

    [row] = usage_rows()
    [entry] = gateway_entries()
    assert row.trial_id == "trial-42"
    assert row.endpoint == prog.endpoint
    assert row.backend == "llamacpp"
    assert row.workspace_id == prog.workspace_id
    assert row.status == "ok" and row.stream is False
    assert (row.prompt_tokens, row.completion_tokens) == (
        reply["usage"]["prompt_tokens"],
        reply["usage"]["completion_tokens"],
    )
    assert row.latency_ms > 0
    assert row.ledger_seq == entry.seq == int(raw.headers["X-Finsandbox-Ledger-Seq"])

    from finsandbox.store.models import ApiKey

    with session_scope() as s:
        key = s.get(ApiKey, row.key_id)
        assert key is not None and key.prefix == prog.key_prefix
        assert key.tokens_used == reply["usage"]["total_tokens"]

    payload = json.loads(entry.payload)
    assert entry.actor == f"key:{prog.key_prefix}"
    assert entry.workspace_id == prog.workspace_id
    assert payload["trial"] == "trial-42"
    assert payload["key"] == prog.key_prefix
    assert payload["prompt_digest"] == ledger.sha256_hex(ledger.canonical(messages))
    assert payload["completion_digest"] == ledger.sha256_hex(answer)
    assert payload["usage"] == {
        "prompt_tokens": reply["usage"]["prompt_tokens"],
        "completion_tokens": reply["usage"]["completion_tokens"],
    }
    assert email not in entry.payload  # personal data never enters the ledger
    assert_ledger_consistent()


def test_oversized_body_is_413_over_http(server: processes.Process, prog: Any) -> None:
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": prog.endpoint, "messages": [{"role": "user", "content": "x" * 1_100_000}]},
        headers={"Authorization": f"Bearer {prog.secret}"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert usage_rows() == []
