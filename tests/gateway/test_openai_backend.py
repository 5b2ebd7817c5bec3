"""The `openai` backend against a small OpenAI-compatible upstream started by the test.

The stub records every body it receives (GET /_requests), so these tests check what really
reached the upstream, not only what came back.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import aiohttp
import httpx
import pytest
from starlette.testclient import TestClient

from finsandbox.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from finsandbox.gateway.backends import ChatRequest
from finsandbox.gateway.backends.openai import OpenAIBackend, OpenAIConfig
from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    assert_openai_error,
    auth,
    reset_upstream,
    upstream_config,
    upstream_requests,
    usage_rows,
)

pytestmark = pytest.mark.slow

URL = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def clean_upstream(upstream: processes.Process) -> Iterator[None]:
    reset_upstream(upstream.url)
    yield
    reset_upstream(upstream.url)


@pytest.fixture
def prog(db: str, make_programme: Any, upstream: processes.Process) -> Any:
    return make_programme(endpoint="remote", backend="openai", config=upstream_config(upstream.url))


def fail_with(upstream: processes.Process, status: int) -> None:
    httpx.post(f"{upstream.url}/_control", json={"fail_status": status}, timeout=5).raise_for_status()


def sse_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def test_request_reaches_the_upstream_as_sent(
    client: TestClient, prog: Any, upstream: processes.Process
) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "an IBAN?"}],
        },
    ]
    body = {
        "model": "remote",
        "messages": messages,
        "max_tokens": 7,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 11,
        "stop": "END",
        "user": "someone",
    }
    response = client.post(URL, json=body, headers=auth(prog.secret))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["model"] == "remote"
    assert reply["choices"][0]["message"]["content"] == "echo: What is\nan IBAN?"
    usage = reply["usage"]
    assert usage["completion_tokens"] == 4  # the stub counts words: "echo: What is\nan IBAN?"
    assert usage["total_tokens"] == usage["prompt_tokens"] + 4

    [seen] = upstream_requests(upstream.url)
    sent = seen.pop("messages")
    # developer -> system, text parts joined; the gateway may append its canary line to the system prompt
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"].startswith("Be brief.")
    assert sent[1]["content"] == "What is\nan IBAN?"
    assert seen == {
        "model": "stub-model",  # the upstream's own name, not the endpoint's
        "stream": False,
        "max_tokens": 7,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 11,
        "stop": ["END"],
    }
    [row] = usage_rows()
    assert (row.prompt_tokens, row.completion_tokens, row.backend, row.status) == (
        usage["prompt_tokens"],
        4,
        "openai",
        "ok",
    )
    assert_ledger_consistent()


def test_streaming_passes_through(client: TestClient, prog: Any, upstream: processes.Process) -> None:
    body = {
        "model": "remote",
        "messages": [{"role": "user", "content": "stream these five words please"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", URL, json=body, headers=auth(prog.secret)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    text = "".join(p or "" for p in pieces)
    assert text == "echo: stream these five words please"
    assert chunks[-1]["choices"] == []
    assert {c["model"] for c in chunks} == {"remote"}

    [seen] = upstream_requests(upstream.url)
    assert seen["stream"] is True
    assert seen["stream_options"] == {"include_usage": True}  # asked for, so the meter is exact
    # The upstream's own usage report (the stub counts words of what it received) reaches the caller.
    prompt_tokens = sum(len(m["content"].split()) for m in seen["messages"])
    assert chunks[-1]["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 6,
        "total_tokens": prompt_tokens + 6,
    }
    [row] = usage_rows()
    assert (row.stream, row.prompt_tokens, row.completion_tokens, row.status) == (
        True,
        prompt_tokens,
        6,
        "ok",
    )
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("upstream_status", "status", "code", "says"),
    [
        (500, 502, "upstream_error", "the upstream failed (HTTP 500): stub failure 500"),
        (429, 429, "upstream_busy", "the upstream is rate limiting: stub failure 429"),
        (404, 502, "upstream_model_not_found", "does not serve model 'stub-model'"),
        (401, 502, "upstream_auth", "refused the gateway's credentials"),
        (503, 503, "upstream_unavailable", "unavailable (HTTP 503)"),
        (400, 400, "upstream_rejected", "the upstream model rejected the request"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_upstream_errors_are_mapped_and_not_retried(
    client: TestClient,
    prog: Any,
    upstream: processes.Process,
    upstream_status: int,
    status: int,
    code: str,
    says: str,
    stream: bool,
) -> None:
    fail_with(upstream, upstream_status)
    body = {"model": "remote", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    response = client.post(URL, json=body, headers=auth(prog.secret))
    assert_openai_error(response, status, code=code, says=says)
    if status == 429:
        assert response.headers["retry-after"] == "5"
    assert len(upstream_requests(upstream.url)) == 1  # the upstream saw it once: no retry
    [row] = usage_rows()
    assert row.status == f"error:{code}"
    assert_ledger_consistent()


def test_slow_upstream_is_504_and_not_retried(
    client: TestClient, db: str, make_programme: Any, upstream: processes.Process
) -> None:
    prog = make_programme(
        endpoint="slow", backend="openai", config=upstream_config(upstream.url, read_timeout=0.3, retries=3)
    )
    httpx.post(f"{upstream.url}/_control", json={"delay_ms": 1500}, timeout=5)
    response = client.post(
        URL,
        json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]},
        headers=auth(prog.secret),
    )
    assert_openai_error(response, 504, code="upstream_timeout", says="did not answer in time")
    assert len(upstream_requests(upstream.url)) == 1
    assert [r.status for r in usage_rows()] == ["error:upstream_timeout"]


# --- retries, on the backend itself with a scripted connection step ------------------------------

OK_REPLY = "fine"
Step = Callable[[str, Any], None]


def scripted_backend(
    monkeypatch: pytest.MonkeyPatch, upstream_url: str, script: list[Step], retries: int = 2, **config: Any
) -> tuple[OpenAIBackend, list[int]]:
    """A backend whose requests each run the next step of `script` when they ask for a connection.

    A step either refuses the connection (as a closed port does) or sets how the stub upstream
    answers; the backend's own client, timeouts and retry loop then run unchanged over the network.
    """
    seen: list[int] = []
    connect = aiohttp.TCPConnector.connect

    async def scripted(connector: aiohttp.TCPConnector, req: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(seen) + 1)
        script[min(len(seen), len(script)) - 1](upstream_url, req)
        return await connect(connector, req, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "connect", scripted)
    backend = OpenAIBackend(OpenAIConfig(**upstream_config(upstream_url, retries=retries, **config)))
    return backend, seen


def control(upstream_url: str, **state: Any) -> None:
    httpx.post(f"{upstream_url}/_control", json=state, timeout=5).raise_for_status()


def refuse(_url: str, req: Any) -> None:
    raise aiohttp.ClientConnectorError(req.connection_key, ConnectionRefusedError(111, "Connection refused"))


def answer(url: str, _req: Any) -> None:
    control(url, reply=OK_REPLY, fail_status=None, delay_ms=0)


def time_out(url: str, _req: Any) -> None:
    control(url, reply=OK_REPLY, fail_status=None, delay_ms=1500)  # past the 0.3 s read timeout


def server_error(url: str, _req: Any) -> None:
    control(url, reply=OK_REPLY, fail_status=500, delay_ms=0)


def run(backend: OpenAIBackend) -> Any:
    async def go() -> Any:
        try:
            return await backend.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}]))
        finally:
            await backend.aclose()

    return asyncio.run(go())


@pytest.fixture
def stub(upstream: processes.Process) -> Iterator[str]:
    yield upstream.url
    control(upstream.url, reply=None)


def test_connection_failures_are_retried_then_succeed(monkeypatch: pytest.MonkeyPatch, stub: str) -> None:
    backend, seen = scripted_backend(monkeypatch, stub, [refuse, refuse, answer], retries=2)
    assert run(backend).text == OK_REPLY
    assert len(seen) == 3
    assert len(upstream_requests(stub)) == 1


def test_connection_failures_past_the_retries_are_503(monkeypatch: pytest.MonkeyPatch, stub: str) -> None:
    backend, seen = scripted_backend(monkeypatch, stub, [refuse], retries=2)
    with pytest.raises(UpstreamUnavailable, match="cannot be reached"):
        run(backend)
    assert len(seen) == 3
    assert upstream_requests(stub) == []


@pytest.mark.parametrize(("step", "error"), [(time_out, UpstreamTimeout), (server_error, UpstreamError)])
def test_other_failures_are_never_retried(
    monkeypatch: pytest.MonkeyPatch, stub: str, step: Step, error: type
) -> None:
    backend, seen = scripted_backend(monkeypatch, stub, [step, answer], retries=3, read_timeout=0.3)
    with pytest.raises(error):
        run(backend)
    assert len(seen) == 1
    assert len(upstream_requests(stub)) == 1


# --- a proxy from the environment ----------------------------------------------------------------


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A forward HTTP proxy that records each request's absolute URL and relays it."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.seen.append(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        relayed = httpx.post(
            self.path, content=body, headers={"Content-Type": "application/json"}, timeout=10, trust_env=False
        )
        self.send_response(relayed.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(relayed.content)))
        self.end_headers()
        self.wfile.write(relayed.content)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def forward_proxy() -> Iterator[str]:
    _ForwardProxy.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("bypass", [False, True])
def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch, stub: str, forward_proxy: str, bypass: bool
) -> None:
    """HTTP(S)_PROXY and NO_PROXY apply as curl reads them (read once, when the endpoint is loaded)."""
    control(stub, reply=OK_REPLY)
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy)
    if bypass:
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    backend = OpenAIBackend(OpenAIConfig(**upstream_config(stub)))
    answer = run(backend)
    monkeypatch.undo()  # the test's own calls to the stub go direct
    assert answer.text == OK_REPLY
    assert _ForwardProxy.seen == ([] if bypass else [f"{stub}/v1/chat/completions"])
    assert len(upstream_requests(stub)) == 1
