"""A resumed trial meters the call that was in flight at the crash once, and every other call as usual."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from finsandbox.evals import trials
from finsandbox.evals.client import GatewayClient, make_http_client
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, CaseResult, LedgerEntry, Trial, UsageRecord
from finsandbox.testing import processes
from tests.conftest import make_programme
from tests.trials.conftest import write_suite


def _programme(upstream_url: str) -> None:
    make_programme(
        slug="ws-replay",
        endpoint="stub",
        backend="openai",
        config={"base_url": f"{upstream_url}/v1", "model": "m"},
    )


def _trial(suite: Path, **kw) -> str:  # type: ignore[no-untyped-def]
    with session_scope(write=True) as s:
        config = TrialConfig(workspace="ws-replay", endpoint="stub", suites=[str(suite)], **kw)
        return trials.create_trial(s, config, actor="tester").id


def _usage(trial_id: str) -> list[UsageRecord]:
    with session_scope() as s:
        query = select(UsageRecord).where(UsageRecord.trial_id == trial_id).order_by(UsageRecord.ledger_seq)
        return list(s.scalars(query))


async def _calls(secret: str, trial_id: str, cases: list[str]) -> None:
    async with make_http_client(None) as http:
        client = GatewayClient(http, secret=secret, trial_id=trial_id, endpoint="stub")
        for case in cases:
            outcome = await client.chat([{"role": "user", "content": "the same question"}], case_id=case)
            assert outcome.status == 200, outcome.error


def test_a_resumed_runs_repeat_of_a_call_is_metered_once_and_a_genuine_repeat_twice(
    db: str, upstream, tmp_path: Path
) -> None:
    _programme(upstream.url)
    trial_id = _trial(write_suite(tmp_path, 2))
    _, first, _ = trials._begin(trial_id, "tester")
    asyncio.run(_calls(first, trial_id, ["x", "x"]))  # one case calling twice: two real calls
    _, second, _ = trials._begin(trial_id, "tester")  # the first run crashed; a resume starts
    asyncio.run(_calls(second, trial_id, ["x", "x", "x", "y"]))
    rows = _usage(trial_id)
    assert [(r.case_id, r.call_no) for r in rows] == [
        ("x", 1),
        ("x", 2),
        ("x", 1),
        ("x", 2),
        ("x", 3),
        ("y", 1),
    ]
    seqs = [r.ledger_seq for r in rows]
    # The resumed run's first two calls for x repeat the crashed run's; its third and y are new.
    assert [r.replay_of for r in rows] == [None, None, seqs[0], seqs[1], None, None]
    metered = [r for r in rows if r.replay_of is None]
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in metered)
    assert all(r.prompt_tokens == r.completion_tokens == 0 for r in rows if r.replay_of is not None)
    with session_scope() as s:
        used = s.scalar(select(func.sum(ApiKey.tokens_used)).where(ApiKey.name == f"trial {trial_id}"))
        assert used == sum(r.prompt_tokens + r.completion_tokens for r in metered)
        replay = json.loads(s.get(LedgerEntry, seqs[2]).payload)
        # The ledger still says what happened: the call was made, with the upstream's usage.
        assert replay["replay_of"] == seqs[0] and replay["metered"] is False
        assert replay["usage"]["completion_tokens"] > 0


def test_calls_of_a_key_that_is_not_the_trials_own_are_never_replays(
    db: str, upstream, tmp_path: Path
) -> None:
    _programme(upstream.url)
    trial_id = _trial(write_suite(tmp_path, 2))
    _, first, _ = trials._begin(trial_id, "tester")
    asyncio.run(_calls(first, trial_id, ["x"]))
    with session_scope(write=True) as s:
        from finsandbox.access.keys import create_key
        from finsandbox.store.models import Workspace

        ws = s.scalar(select(Workspace).where(Workspace.slug == "ws-replay"))
        other = create_key(s, ws, name="app", actor="tester")
        secret = other.secret
    asyncio.run(_calls(secret, trial_id, ["x"]))
    rows = _usage(trial_id)
    assert [(r.call_no, r.replay_of) for r in rows] == [(1, None), (None, None)]
    assert rows[1].completion_tokens > 0


def test_a_trial_killed_mid_call_is_metered_once_per_call_after_resume(
    db: str, slow_upstream, tmp_path: Path
) -> None:
    """The trial runs against a gateway process of its own, so the call in flight when the trial's
    process is killed completes and is metered there; the resumed run makes it again."""
    httpx.post(f"{slow_upstream.url}/_control", json={"delay_ms": 1500, "clear": True})
    try:
        _programme(slow_upstream.url)
        env = {**os.environ, "COLUMNS": "200", "FINSANDBOX_DATABASE_URL": db}
        with processes.server(env) as gateway:
            trial_id = _trial(write_suite(tmp_path, 6), concurrency=1, gateway_url=f"{gateway.url}/v1")
            cli = [sys.executable, "-m", "finsandbox", "trial", "resume", trial_id]
            proc = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # kill while a call is at the upstream, unanswered
                stored = _stored(trial_id)
                seen = len(httpx.get(f"{slow_upstream.url}/_requests").json())
                if stored >= 2 and seen > stored:
                    break
                time.sleep(0.05)
            proc.kill()
            proc.wait()
            stored = _stored(trial_id)
            while len(_usage(trial_id)) <= stored and time.monotonic() < deadline:
                time.sleep(0.1)  # the gateway finishes and meters the orphaned call
            assert len(_usage(trial_id)) == stored + 1, "no call was in flight at the kill"
            done = subprocess.run(cli, env=env, capture_output=True, timeout=180)
            assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    finally:
        httpx.post(f"{slow_upstream.url}/_control", json={"delay_ms": 300})
    rows = _usage(trial_id)
    with session_scope() as s:
        trial = s.get(Trial, trial_id)
        assert trial.status == "completed"
        total = trial.total_cases
        used = s.scalar(select(func.sum(ApiKey.tokens_used)).where(ApiKey.name == f"trial {trial_id}"))
    assert len(rows) == total + 1  # the in-flight call was made twice ...
    metered = [r for r in rows if r.replay_of is None]
    assert sorted(r.case_id for r in metered) == sorted({r.case_id for r in rows})  # ... metered once
    assert len(metered) == total
    (replay,) = [r for r in rows if r.replay_of is not None]
    assert replay.replay_of == next(r.ledger_seq for r in rows if r.case_id == replay.case_id)
    assert used == sum(r.prompt_tokens + r.completion_tokens for r in metered)


def _stored(trial_id: str) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).where(CaseResult.trial_id == trial_id)) or 0
