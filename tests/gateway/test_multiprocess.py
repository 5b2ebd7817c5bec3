"""Several server processes sharing one database: quotas hold across them and the ledger stays one chain.

Each scenario runs with per-minute counters in the database and, where Redis answers, in
Redis (FINSANDBOX_REDIS_URL). Server A is one process; server B is `serve --workers 2`, so
every scenario spans three gateway processes (four with the test process itself).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    fresh_quota_window,
    gateway_entries,
    reset_upstream,
    upstream_config,
    usage_rows,
)

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("FINSANDBOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="module", params=["database", "redis"])
def servers(
    request: pytest.FixtureRequest, database_url: str, upstream: processes.Process
) -> Iterator[tuple[processes.Process, processes.Process]]:
    if request.param == "redis" and not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}; set FINSANDBOX_TEST_REDIS_URL")
    env = {"FINSANDBOX_REDIS_URL": REDIS_URL if request.param == "redis" else ""}
    with processes.server(env) as a, processes.server(env, workers=2) as b:
        yield a, b


@pytest.fixture
def prog_factory(db: str, make_programme: Any, upstream: processes.Process) -> Any:
    reset_upstream(upstream.url)

    def make(**limits: Any) -> Any:
        return make_programme(
            endpoint="remote", backend="openai", config=upstream_config(upstream.url), **limits
        )

    return make


def post(url: str, secret: str, text: str = "hello", **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "remote", "messages": [{"role": "user", "content": text}], **extra},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


async def hammer(urls: list[str], secret: str, total: int, concurrency: int) -> list[httpx.Response]:
    """`total` requests spread round-robin over `urls`, at most `concurrency` in flight; every
    third one streams."""
    gate = asyncio.Semaphore(concurrency)

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(i: int) -> httpx.Response:
            body = {
                "model": "remote",
                "messages": [{"role": "user", "content": f"request number {i}"}],
                "stream": i % 3 == 0,
            }
            async with gate:
                response = await client.post(
                    f"{urls[i % len(urls)]}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {secret}"},
                )
                await response.aread()
                return response

        return list(await asyncio.gather(*(one(i) for i in range(total))))


def test_requests_per_minute_hold_across_processes(servers: Any, prog_factory: Any) -> None:
    a, b = servers
    prog = prog_factory(rpm=5)
    fresh_quota_window()
    responses = asyncio.run(hammer([a.url, b.url], prog.secret, total=14, concurrency=14))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 5, 429: 9}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"requests_per_minute_exceeded"}
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert len(usage_rows()) == 5
    assert_ledger_consistent()


def test_tokens_per_minute_hold_across_processes(servers: Any, prog_factory: Any) -> None:
    a, b = servers
    prog = prog_factory(tpm=6)
    fresh_quota_window()
    first = post(a.url, prog.secret, "four words in here")  # 4 prompt + 5 completion tokens
    assert first.status_code == 200, first.text
    second = post(b.url, prog.secret)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "tokens_per_minute_exceeded"
    assert "6 tokens per minute" in second.json()["error"]["message"]


def test_token_budget_holds_across_processes(servers: Any, prog_factory: Any) -> None:
    from sqlalchemy import select, update

    from finsandbox.store import session_scope
    from finsandbox.store.models import ApiKey

    a, b = servers
    prog = prog_factory(budget=1_000_000)
    first = post(a.url, prog.secret, "one two three")
    assert first.status_code == 200, first.text
    spent = first.json()["usage"]["total_tokens"]
    budget = spent + 30
    with session_scope(write=True) as s:  # the operator cuts the budget to a little above what is spent
        s.execute(update(ApiKey).where(ApiKey.prefix == prog.key_prefix).values(token_budget=budget))
    second = post(b.url, prog.secret, "one", stream=True)  # still under budget, on another process
    assert second.status_code == 200, second.text
    for url in (a.url, b.url):
        refused = post(url, prog.secret, "one " * 40)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "token_budget_exhausted"
        assert f"token budget of {budget}" in refused.json()["error"]["message"]
    with session_scope() as s:
        used = s.scalar(select(ApiKey.tokens_used).where(ApiKey.prefix == prog.key_prefix))
    assert used == sum(r.prompt_tokens + r.completion_tokens for r in usage_rows())
    assert spent < used <= budget


def test_budget_and_tpm_hold_under_concurrency_across_processes(servers: Any, prog_factory: Any) -> None:
    """20 concurrent callers over two processes: each call reserves its most at admission and settles
    after, so the budget is never passed and the minute's tokens pass their limit by at most one call."""
    from sqlalchemy import select

    from finsandbox.store import session_scope
    from finsandbox.store.models import ApiKey

    a, b = servers
    budgeted = prog_factory(budget=300)
    responses = asyncio.run(hammer([a.url, b.url], budgeted.secret, total=60, concurrency=20))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] > 0 and statuses[429] > 0, statuses
    with session_scope() as s:
        used = s.scalar(select(ApiKey.tokens_used).where(ApiKey.prefix == budgeted.key_prefix))
    assert used == sum(r.prompt_tokens + r.completion_tokens for r in usage_rows()) <= 300


def test_concurrent_appends_from_several_processes_form_one_chain(servers: Any, prog_factory: Any) -> None:
    """Gateway calls through three server processes, and governance actions from this one, at once."""
    a, b = servers
    prog = prog_factory()
    total = 48

    from finsandbox.access import create_key
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    governance_errors: list[BaseException] = []

    def governance() -> None:
        try:
            for i in range(8):
                with session_scope(write=True) as s:
                    create_key(s, get_workspace(s, prog.workspace), name=f"k{i}", actor="test")
        except BaseException as exc:
            governance_errors.append(exc)

    thread = threading.Thread(target=governance)
    thread.start()
    responses = asyncio.run(hammer([a.url, b.url], prog.secret, total=total, concurrency=16))
    thread.join()

    assert not governance_errors
    assert [r.status_code for r in responses] == [200] * total
    assert all(r.text.rstrip().endswith("data: [DONE]") for r in responses[::3])
    entries = gateway_entries()
    assert len(entries) == total
    assert len(usage_rows()) == total
    assert_ledger_consistent()  # verify ok, dense seq, one usage row per entry
