"""The queue: fair share between workspaces, the programme-wide concurrency limit, claims that two
processes never share, and dead runners' jobs found by their heartbeat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from finsandbox.store import session_scope
from finsandbox.store.models import Job, LedgerEntry
from tests.conftest import make_programme


def _queue(workspace_id: str, n: int, label: str) -> list[str]:
    """n queued jobs for the workspace, in this order (the kind is never run by these tests)."""
    ids = []
    with session_scope(write=True) as s:
        for i in range(n):
            job = Job(
                workspace_id=workspace_id,
                kind="batch_inference",
                params={"label": f"{label}{i}"},
                estimate={},
                state="queued",
                created_by="test",
                queued_at=datetime.now(UTC) + timedelta(microseconds=i),
            )
            s.add(job)
            s.flush()
            ids.append(job.id)
    return ids


def _finish(job_id: str) -> None:
    with session_scope(write=True) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.state, job.runner = "succeeded", None


def test_two_workspaces_take_turns_and_each_keeps_its_own_order(db: str) -> None:
    from finsandbox.jobs.runner import claim

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    b = make_programme(slug="ws-b", bank="Beta Bank")
    first = _queue(a.workspace_id, 3, "a")  # A queued everything before B asked for anything
    second = _queue(b.workspace_id, 3, "b")
    order = []
    while (job_id := claim("r1", concurrency=1)) is not None:
        order.append(job_id)
        _finish(job_id)
    assert order == [first[0], second[0], first[1], second[1], first[2], second[2]]


def test_a_workspace_with_a_running_job_waits_behind_one_without(db: str) -> None:
    from finsandbox.jobs.runner import claim

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    b = make_programme(slug="ws-b", bank="Beta Bank")
    a_jobs = _queue(a.workspace_id, 2, "a")
    b_jobs = _queue(b.workspace_id, 1, "b")
    assert claim("r1", concurrency=2) == a_jobs[0]
    assert claim("r1", concurrency=2) == b_jobs[0]  # A already runs one
    assert claim("r1", concurrency=2) is None  # the programme's two slots are taken
    _finish(b_jobs[0])
    assert claim("r1", concurrency=2) == a_jobs[1]


def _ran(workspace_id: str, *, cpu: float = 0.0, gpu: float = 0.0, started_ago: timedelta) -> None:
    """A job of the workspace that ran and finished a minute ago, charged this much compute."""
    at = datetime.now(UTC)
    with session_scope(write=True) as s:
        s.add(
            Job(
                workspace_id=workspace_id,
                kind="batch_inference",
                params={},
                estimate={},
                state="succeeded",
                created_by="test",
                started_at=at - started_ago,
                heartbeat_at=at - timedelta(minutes=1),
                finished_at=at - timedelta(minutes=1),
                cpu_seconds=cpu,
                gpu_seconds=gpu,
            )
        )


@pytest.mark.parametrize("heavy", [{"cpu": 7200.0}, {"gpu": 7200.0}, {"cpu": 3000.0, "gpu": 4200.0}])
def test_a_workspace_that_used_more_compute_yields_to_one_that_used_less(db: str, heavy: dict) -> None:
    from finsandbox.jobs.runner import claim

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    b = make_programme(slug="ws-b", bank="Beta Bank")
    # A's two-hour fine-tune started before B's one-minute batch: turns alone would pick A first.
    _ran(a.workspace_id, started_ago=timedelta(hours=3), **heavy)
    _ran(b.workspace_id, cpu=60.0, started_ago=timedelta(minutes=2))
    a_jobs = _queue(a.workspace_id, 2, "a")  # A asked first, too
    b_jobs = _queue(b.workspace_id, 2, "b")
    order = []
    while (job_id := claim("r1", concurrency=1)) is not None:
        order.append(job_id)
        _finish(job_id)
    # B's queued jobs run (and are charged nothing here) before A's: A still used more in the window.
    assert order == [b_jobs[0], b_jobs[1], a_jobs[0], a_jobs[1]]


def test_compute_used_before_the_window_no_longer_counts(db: str) -> None:
    from finsandbox.jobs.runner import FAIR_SHARE_WINDOW, claim

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    b = make_programme(slug="ws-b", bank="Beta Bank")
    _ran(a.workspace_id, cpu=7200.0, started_ago=timedelta(hours=3))
    _ran(b.workspace_id, cpu=60.0, started_ago=timedelta(minutes=2))
    with session_scope(write=True) as s:  # A's fine-tune ended before the window
        heavy = s.scalars(select(Job).where(Job.workspace_id == a.workspace_id)).one()
        heavy.finished_at = heavy.heartbeat_at = datetime.now(UTC) - FAIR_SHARE_WINDOW - timedelta(hours=1)
        heavy.started_at = heavy.finished_at - timedelta(hours=2)
    a_jobs = _queue(a.workspace_id, 1, "a")
    b_jobs = _queue(b.workspace_id, 1, "b")
    # A's two hours fell out of the window: it now counts nothing against B's minute.
    assert claim("r1", concurrency=1) == a_jobs[0]
    _finish(a_jobs[0])
    assert claim("r1", concurrency=1) == b_jobs[0]


CLAIMER = """
import json, sys
from finsandbox.jobs.runner import claim
got = []
while (job_id := claim(sys.argv[1], concurrency=int(sys.argv[2]))) is not None:
    got.append(job_id)
print(json.dumps(got))
"""


def _claim_in_processes(n: int, concurrency: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, f"runner-{i}", str(concurrency)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i in range(n)
    ]
    claimed: list[str] = []
    for p in procs:
        out, errors = p.communicate(timeout=120)
        assert p.returncode == 0, errors
        claimed += json.loads(out.strip().splitlines()[-1])
    return claimed


def test_runners_in_several_processes_never_take_the_same_job(db: str) -> None:
    a = make_programme(slug="ws-a", bank="Alpha Bank")
    b = make_programme(slug="ws-b", bank="Beta Bank")
    queued = set(_queue(a.workspace_id, 8, "a") + _queue(b.workspace_id, 8, "b"))
    claimed = _claim_in_processes(3, concurrency=100)
    assert len(claimed) == len(set(claimed)), "a job was claimed twice"
    assert set(claimed) == queued
    with session_scope() as s:
        runners = {j.runner for j in s.scalars(select(Job))}
        started = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "job.started")).all()
    assert len(runners) >= 1 and len(started) == 16


def test_the_concurrency_limit_holds_across_processes(db: str) -> None:
    a = make_programme(slug="ws-a", bank="Alpha Bank")
    _queue(a.workspace_id, 6, "a")
    claimed = _claim_in_processes(3, concurrency=2)
    assert len(claimed) == 2
    with session_scope() as s:
        assert len(s.scalars(select(Job).where(Job.state == "running")).all()) == 2


def test_a_job_whose_runner_stopped_beating_is_interrupted_and_can_be_resumed(db: str) -> None:
    from finsandbox.jobs.runner import claim, reap_stale
    from finsandbox.jobs.service import get_job, resume

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    (job_id,) = _queue(a.workspace_id, 1, "a")
    assert claim("dead-runner", concurrency=1) == job_id
    assert reap_stale(stale_seconds=3600) == []  # a fresh heartbeat is left alone
    with session_scope(write=True) as s:
        s.get(Job, job_id).heartbeat_at = datetime.now(UTC) - timedelta(minutes=5)  # type: ignore[union-attr]
    assert reap_stale(stale_seconds=60) == [job_id]
    with session_scope(write=True) as s:
        job = get_job(s, job_id)
        assert job.state == "interrupted" and "dead-runner" in (job.error or "")
        resume(s, job, actor="test")
        assert job.state == "queued"
    assert claim("new-runner", concurrency=1) == job_id
    with session_scope() as s:
        kinds = [
            e.kind
            for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
            if e.kind.startswith("job.")
        ]
    assert kinds == ["job.started", "job.interrupted", "job.resume_requested", "job.resumed"]


@pytest.mark.parametrize("state", ["queued", "running", "succeeded"])
def test_only_stopped_jobs_resume(db: str, state: str) -> None:
    from finsandbox.errors import Conflict
    from finsandbox.jobs.service import get_job, resume

    a = make_programme(slug="ws-a", bank="Alpha Bank")
    (job_id,) = _queue(a.workspace_id, 1, "a")
    with session_scope(write=True) as s:
        job = get_job(s, job_id)
        job.state = state
        with pytest.raises(Conflict, match=f"is {state}; only interrupted, failed, cancelled"):
            resume(s, job, actor="test")
