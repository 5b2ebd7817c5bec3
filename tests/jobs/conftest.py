"""Fixtures for jobs: a stub model upstream, workspaces with a stub endpoint and a dataset, and helpers
that run the queue in this process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from finsandbox.testing import processes
from tests.conftest import Programme, make_programme


@pytest.fixture(scope="module")
def upstream() -> Iterator[processes.Process]:
    with processes.upstream() as up:
        yield up


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[processes.Process]:
    with processes.upstream(delay_ms=300) as up:
        yield up


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    from finsandbox.config import get_settings

    monkeypatch.setenv("FINSANDBOX_JOB_HEARTBEAT_SECONDS", "0.2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def workspace(upstream_url: str, slug: str = "ws-jobs", bank: str = "Alpha Bank", rows: int = 5) -> Programme:
    """A workspace with a stub endpoint and a dataset `questions` of `rows` rows (id, input)."""
    from finsandbox.access import get_user
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    prog = make_programme(
        slug=slug,
        bank=bank,
        endpoint="stub",
        backend="openai",
        config={"base_url": f"{upstream_url}/v1", "model": "m"},
    )
    data = "".join(json.dumps({"id": f"r{i}", "input": f"question number {i}"}) + "\n" for i in range(rows))
    with session_scope(write=True) as s:
        upload_dataset(
            s,
            get_user(s, prog.member_email),
            get_workspace(s, slug),
            name="questions",
            filename="questions.jsonl",
            data=data.encode(),
        )
    return prog


def submit(slug: str, kind: str, params: dict[str, Any], actor: str = "test") -> str:
    from finsandbox.jobs.service import submit as do_submit
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    with session_scope(write=True) as s:
        return do_submit(s, get_workspace(s, slug), kind, params, actor=actor).id


def job(job_id: str) -> Any:
    from finsandbox.store import session_scope
    from finsandbox.store.models import Job

    with session_scope() as s:
        found = s.get(Job, job_id)
        assert found is not None
        s.expunge(found)
        return found


def run_queue() -> list[tuple[str, str]]:
    """Run the queue in this process until nothing is left to claim; (job id, end state) per job."""
    from finsandbox.jobs.runner import Runner

    runner = Runner(poll_seconds=0.05)
    runner.run(until_idle=True)
    return runner.finished


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until `check()` holds; the deadline only stops a hung test, it asserts nothing about speed."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def artifact_lines(job_id: str) -> list[dict[str, Any]]:
    from finsandbox.jobs.service import artifact

    path = artifact(job(job_id), "outputs.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
