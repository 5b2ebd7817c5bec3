"""The embedded model runs in a supervised worker process: its crash is one failed call, not an outage.

These tests SIGKILL the worker while it answers (a plain request and a stream) and check what a
caller, the ledger and the meter see, that the gateway keeps serving every other endpoint, and
that the next call succeeds on a restarted worker.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from finsandbox.gateway.backends import get_backend, validate_config
from finsandbox.gateway.backends.llamacpp import LlamaCppBackend
from finsandbox.gateway.backends.workers import describe_exit
from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    assert_openai_error,
    auth,
    chat_body,
    gateway_entries,
    upstream_config,
    usage_rows,
)

pytestmark = pytest.mark.slow

URL = "/v1/chat/completions"
STORY = "Write a very long story about a bank clerk in Hong Kong who loves numbers, chapter by chapter."


def test_a_crash_is_described_in_words_a_user_can_act_on() -> None:
    illegal = describe_exit(-signal.SIGILL, [])
    assert "SIGILL" in illegal and "finsandbox doctor" in illegal and "install-llama.sh" in illegal
    assert "memory" in describe_exit(-signal.SIGKILL, [])
    assert "SIGSEGV" in describe_exit(-signal.SIGSEGV, [])
    assert describe_exit(3, ["loading", "the model x.gguf has no chat template"]).endswith("no chat template")
    assert describe_exit(1, ["ValueError: Failed to load model"]) == (
        "exited with status 1: ValueError: Failed to load model"
    )


def test_a_model_that_cannot_load_fails_the_call_not_the_gateway(
    client: TestClient, db: str, make_programme: Any, upstream: processes.Process, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file")
    prog = make_programme(config={"model_path": str(broken)})
    _add_remote(prog, upstream)

    response = client.post(URL, json=chat_body(prog.endpoint), headers=auth(prog.secret))
    error = assert_openai_error(response, 503, code="backend_crashed", says="embedded model worker")
    assert "exited with status" in error["message"]
    assert client.post(URL, json=chat_body("remote"), headers=auth(prog.secret)).status_code == 200
    assert [r.status for r in usage_rows()] == ["error:backend_crashed", "ok"]
    assert_ledger_consistent()


def _backend() -> LlamaCppBackend:
    backend = get_backend("llamacpp", validate_config("llamacpp", {}))
    assert isinstance(backend, LlamaCppBackend)
    return backend


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _kill_once_busy(pid: int) -> None:
    """SIGKILL the worker once it is computing (its CPU time grows), so the kill lands mid-answer."""
    if Path(f"/proc/{pid}/stat").exists():
        start = _cpu_ticks(pid)
        deadline = time.monotonic() + 30
        while _cpu_ticks(pid) < start + 5 and time.monotonic() < deadline:
            time.sleep(0.005)
    else:  # no /proc: the request was sent; give it a moment to reach the worker
        time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def prog(db: str, make_programme: Any, upstream: processes.Process) -> Any:
    prog = make_programme()
    _add_remote(prog, upstream)
    return prog


def _add_remote(prog: Any, upstream: processes.Process) -> None:
    """A second endpoint in the same workspace, on the stub upstream: it must keep serving."""
    from finsandbox.programme import add_endpoint
    from finsandbox.store import session_scope
    from finsandbox.store.models import Workspace

    with session_scope(write=True) as s:
        ws = s.get(Workspace, prog.workspace_id)
        config = upstream_config(upstream.url)
        add_endpoint(s, ws, name="remote", backend="openai", config=config, actor="test")


def _warm(client: TestClient, prog: Any) -> int:
    """One successful call, so the worker is running; returns its process id."""
    body = chat_body(prog.endpoint, max_tokens=2, temperature=0)
    assert client.post(URL, json=body, headers=auth(prog.secret)).status_code == 200
    [pid] = _backend().worker_pids()
    return pid


def _recovers(client: TestClient, prog: Any, old_pid: int) -> None:
    """Every other endpoint serves at once; the embedded one answers again from a new worker."""
    other = client.post(URL, json=chat_body("remote"), headers=auth(prog.secret))
    assert other.status_code == 200, other.text
    body = chat_body(prog.endpoint, max_tokens=4, temperature=0)
    response = client.post(URL, json=body, headers=auth(prog.secret))
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 4
    [pid] = _backend().worker_pids()
    assert pid != old_pid
    assert any(w["restarts"] >= 1 for w in _health()["workers"])


def _health() -> dict[str, Any]:
    import asyncio

    return asyncio.run(_backend().health())


def test_sigkill_mid_request_gives_503_is_recorded_and_the_next_call_succeeds(
    client: TestClient, prog: Any
) -> None:
    pid = _warm(client, prog)
    result: dict[str, httpx.Response] = {}
    body = chat_body(prog.endpoint, STORY, max_tokens=1500, temperature=0)
    caller = threading.Thread(
        target=lambda: result.update(r=client.post(URL, json=body, headers=auth(prog.secret)))
    )
    caller.start()
    _kill_once_busy(pid)
    caller.join(60)

    error = assert_openai_error(result["r"], 503, code="backend_crashed", says="SIGKILL")
    assert "retry" in error["message"]
    rows = usage_rows()
    assert [r.status for r in rows] == ["ok", "error:backend_crashed"]
    entry = json.loads(gateway_entries()[-1].payload)
    assert entry["status"] == "error:backend_crashed" and "SIGKILL" in entry["error"]
    _recovers(client, prog, pid)
    assert_ledger_consistent()


def test_sigkill_mid_stream_ends_the_stream_with_an_error_event(client: TestClient, prog: Any) -> None:
    pid = _warm(client, prog)
    body = chat_body(prog.endpoint, STORY, max_tokens=1500, temperature=0, stream=True)
    events: list[str] = []
    with client.stream("POST", URL, json=body, headers=auth(prog.secret)) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(line[6:])
            if len(events) == 3:  # the role chunk and two pieces of text: the model is generating
                os.kill(pid, signal.SIGKILL)

    assert events[-1] != "[DONE]"
    last = json.loads(events[-1])
    assert last["error"]["code"] == "backend_crashed" and "SIGKILL" in last["error"]["message"]
    chunks = [json.loads(e) for e in events[:-1]]
    streamed = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert streamed  # what the caller saw before the crash ...
    entry = json.loads(gateway_entries()[-1].payload)
    assert entry["status"] == "error:backend_crashed" and entry["stream"] is True
    assert entry["completion"] == streamed  # ... is what the ledger holds
    assert usage_rows()[-1].status == "error:backend_crashed"
    _recovers(client, prog, pid)
    assert_ledger_consistent()
