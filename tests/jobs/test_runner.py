"""Jobs run end to end through the gateway: batch inference and batch trials, allocations refused and
spent, cancel, and resume after a runner killed mid-job with no row written twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, UsageRecord
from tests.jobs.conftest import artifact_lines, job, run_queue, submit, wait_for, workspace


def _job_entries(job_id: str) -> list[str]:
    import json

    with session_scope() as s:
        return [
            e.kind
            for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
            if e.kind.startswith("job.") and json.loads(e.payload).get("job_id") == job_id
        ]


def test_batch_inference_answers_every_row_through_the_gateway(db: str, upstream) -> None:
    prog = workspace(upstream.url, rows=5)
    job_id = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    assert job(job_id).estimate == {"tokens": 5 * (200 + 128)}
    assert run_queue() == [(job_id, "succeeded")]
    done = job(job_id)
    assert done.result["rows"] == 5 and done.result["ok"] == 5
    assert (done.progress_done, done.progress_total) == (5, 5)
    lines = artifact_lines(job_id)
    assert [line["row"] for line in lines] == [0, 1, 2, 3, 4]
    assert all("question number" in line["output"] and line["ledger_seq"] for line in lines)
    with session_scope() as s:
        metered = s.scalar(
            select(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens)).where(
                UsageRecord.workspace_id == prog.workspace_id
            )
        )
        job_key = s.scalars(select(ApiKey).where(ApiKey.name == f"job {job_id}")).one()
    assert done.tokens == metered > 0  # charged what the gateway metered
    assert job_key.revoked_at is not None  # the run's key does not outlive it
    assert done.cpu_seconds > 0
    assert _job_entries(job_id) == [
        "job.submitted",
        "job.started",
        "job.checkpointed",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.succeeded",
    ]
    from finsandbox.jobs.service import job_dir

    assert os.stat(job_dir(prog.workspace_id, job_id)).st_mode & 0o777 == 0o700


def test_a_job_the_allocation_cannot_pay_for_is_refused(db: str, upstream) -> None:
    from finsandbox.jobs import AllocationExceeded
    from finsandbox.jobs.service import set_allocation
    from finsandbox.programme import get_workspace

    prog = workspace(upstream.url, rows=5)
    with session_scope(write=True) as s:
        set_allocation(s, get_workspace(s, prog.workspace), {"tokens": 1000}, actor="operator")
    with pytest.raises(
        AllocationExceeded, match="estimated at 1640 tokens but the workspace's allocation has 1000 left"
    ):
        submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    # a smaller job fits
    submit(
        prog.workspace,
        "batch_inference",
        {"dataset": "questions", "endpoint": "stub", "max_rows": "2", "max_tokens": "64"},
    )


def test_a_job_that_spends_the_allocation_is_stopped_with_the_reason(db: str, upstream) -> None:
    from finsandbox.jobs.service import allocation, set_allocation
    from finsandbox.programme import get_workspace

    prog = workspace(upstream.url, rows=5)
    job_id = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    with session_scope(write=True) as s:  # the operator lowers it after the job was admitted
        set_allocation(s, get_workspace(s, prog.workspace), {"tokens": 1}, actor="operator")
    assert run_queue() == [(job_id, "failed")]
    stopped = job(job_id)
    assert "tokens allocation is spent" in stopped.error and stopped.state == "failed"
    assert len(artifact_lines(job_id)) == 1  # stopped at its first charge; what it did is kept
    with session_scope() as s:
        assert allocation(s, prog.workspace_id).left("tokens") < 0
    assert _job_entries(job_id)[-1] == "job.failed"


def test_cancel_a_queued_job_and_a_running_one(db: str, slow_upstream, fast_heartbeat) -> None:
    import threading

    from finsandbox.jobs.service import cancel, get_job

    prog = workspace(slow_upstream.url, rows=20)
    queued = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    with session_scope(write=True) as s:
        cancel(s, get_job(s, queued), actor="test")
    assert job(queued).state == "cancelled"
    running = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    done: list = []
    worker = threading.Thread(target=lambda: done.extend(run_queue()))
    worker.start()
    wait_for(lambda: job(running).progress_done >= 1, "the job to answer a row")
    with session_scope(write=True) as s:
        cancel(s, get_job(s, running), actor="test")
    worker.join(timeout=120)
    assert done == [(running, "cancelled")]
    stopped = job(running)
    assert 1 <= stopped.progress_done < 20
    assert len(artifact_lines(running)) == stopped.progress_done
    entries = _job_entries(running)
    # The row in flight when the cancel came is finished and kept (it may pass a progress milestone),
    # then the job stops: nothing but progress lies between the request and the end.
    after = entries[entries.index("job.cancel_requested") + 1 :]
    assert after[-1] == "job.cancelled"
    assert set(after[:-1]) <= {"job.progress", "job.checkpointed"}


def test_a_killed_runner_s_job_resumes_without_writing_a_row_twice(db: str, slow_upstream) -> None:
    from finsandbox.jobs.runner import reap_stale
    from finsandbox.jobs.service import get_job, resume

    prog = workspace(slow_upstream.url, rows=8)
    job_id = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "finsandbox", "job", "work"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: job(job_id).progress_done >= 2, "the runner to answer two rows", timeout=120)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    before = job(job_id)
    assert before.state == "running" and before.progress_done < 8
    assert reap_stale(stale_seconds=0) == [job_id]
    with session_scope(write=True) as s:
        resume(s, get_job(s, job_id), actor="test")
    assert run_queue() == [(job_id, "succeeded")]
    lines = artifact_lines(job_id)
    assert [line["row"] for line in lines] == list(range(8))  # each row once, in order
    finished = job(job_id)
    assert finished.attempts == 2 and finished.result["ok"] == 8
    with session_scope() as s:
        keys = s.scalars(select(ApiKey).where(ApiKey.name == f"job {job_id}")).all()
        calls = s.scalar(
            select(func.count()).select_from(UsageRecord).where(UsageRecord.key_id.in_([k.id for k in keys]))
        )
    assert len(keys) == 2 and all(k.revoked_at is not None for k in keys)  # the dead run's key too
    assert 8 <= calls <= 9  # at most the row in flight when the runner died was asked again
    entries = _job_entries(job_id)
    assert entries.count("job.interrupted") == 1 and "job.resumed" in entries


def test_batch_trial_runs_a_trial_and_charges_its_metered_tokens(db: str, upstream) -> None:
    from finsandbox.evals.trials import get_trial

    prog = workspace(upstream.url)
    job_id = submit(
        prog.workspace,
        "batch_trial",
        {"endpoint": "stub", "suite": "customer_service", "max_cases": "1", "max_variants": "0"},
    )
    assert run_queue() == [(job_id, "succeeded")]
    done = job(job_id)
    with session_scope() as s:
        trial = get_trial(s, done.result["trial_id"])
        metered = s.scalar(
            select(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens)).where(
                UsageRecord.trial_id == trial.id
            )
        )
        assert trial.status == "completed" and trial.created_by == f"job:{job_id}"
        assert done.progress_total == trial.total_cases == done.progress_done
    assert done.tokens == metered > 0


def test_a_batch_trial_run_by_the_cli_runner_gets_its_scorecard(
    db: str, upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for a trial launched from a page, grades exist as soon as the job's trial completes; and
    a failure of what follows the trial does not undo the trial."""
    from typer.testing import CliRunner

    from finsandbox import cli
    from finsandbox.jobs import base, follow_trials
    from finsandbox.store.models import Scorecard

    monkeypatch.setattr(base, "_trial_followers", [])
    prog = workspace(upstream.url)
    params = {"endpoint": "stub", "suite": "customer_service", "max_cases": "1", "max_variants": "0"}
    job_id = submit(prog.workspace, "batch_trial", params)
    result = CliRunner().invoke(cli.app, ["job", "run-queue"])
    assert result.exit_code == 0, result.output
    done = job(job_id)
    assert done.state == "succeeded"
    with session_scope() as s:
        card = s.get(Scorecard, done.result["scorecard_id"])
        assert card is not None and card.trial_id == done.result["trial_id"]
        assert done.result["scorecard_version"] == card.version == 1

    def broken(trial_id: str) -> None:
        raise RuntimeError("the report store is down")

    follow_trials(broken)
    again = submit(prog.workspace, "batch_trial", params)
    assert run_queue() == [(again, "succeeded")]
    assert job(again).result["follow_errors"] == ["RuntimeError: the report store is down"]
    assert job(again).result["scorecard_id"]  # the scorecard was built before the broken follower


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("nope", {}, "kind", "unknown job kind 'nope'"),
        ("batch_inference", {"endpoint": "stub"}, "dataset", "name the dataset"),
        ("batch_inference", {"dataset": "missing", "endpoint": "stub"}, "dataset", "no dataset 'missing'"),
        ("batch_inference", {"dataset": "questions", "endpoint": "gone"}, "endpoint", "does not exist"),
        (
            "batch_inference",
            {"dataset": "questions", "endpoint": "stub", "column": "x"},
            "column",
            "no column 'x'",
        ),
        (
            "batch_inference",
            {"dataset": "questions", "endpoint": "stub", "max_rows": "many"},
            "max_rows",
            "whole number",
        ),
        (
            "batch_inference",
            {"dataset": "questions", "endpoint": "stub", "colour": "red"},
            "colour",
            "unknown",
        ),
        ("batch_trial", {"endpoint": "stub", "suite": "poetry"}, "suite", "unknown suite 'poetry'"),
        (
            "batch_trial",
            {"endpoint": "stub", "suite": "customer_service", "max_tokens": True},
            "max_tokens",
            "whole number",
        ),
        (
            "batch_trial",
            {"endpoint": "stub", "suite": "customer_service", "executor": "warp"},
            "executor",
            "unknown executor",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(db: str, upstream, kind, params, field, message) -> None:
    from finsandbox.errors import FinsandboxError

    prog = workspace(upstream.url)
    with pytest.raises(FinsandboxError, match=message) as caught:
        submit(prog.workspace, kind, params)
    assert caught.value.param == field


@pytest.mark.slow
def test_a_job_runs_as_a_ray_task_when_configured(db: str, upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole run in a Ray worker against the same database; the runner here keeps its heartbeat."""
    pytest.importorskip("ray")
    from finsandbox.config import get_settings

    prog = workspace(upstream.url, rows=3)
    job_id = submit(prog.workspace, "batch_inference", {"dataset": "questions", "endpoint": "stub"})
    monkeypatch.setenv("FINSANDBOX_JOB_EXECUTOR", "ray")
    get_settings.cache_clear()
    try:
        assert run_queue() == [(job_id, "succeeded")]
    finally:
        # Settings read after this (job_dir below) must not keep the Ray executor for later tests.
        monkeypatch.delenv("FINSANDBOX_JOB_EXECUTOR")
        get_settings.cache_clear()
        import ray

        ray.shutdown()  # the runner keeps Ray up for the next job; this test process has no next job
    done = job(job_id)
    assert [line["row"] for line in artifact_lines(job_id)] == [0, 1, 2]
    assert done.tokens > 0 and done.result["ok"] == 3 and done.runner is None
