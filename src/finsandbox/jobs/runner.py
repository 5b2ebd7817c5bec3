"""The runner: claims queued jobs fairly, runs each with a `JobContext`, keeps a heartbeat, and writes
how each ended. `finsandbox serve` starts one in the background; `finsandbox job work` runs one alone.

Claiming is one short write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock) that
counts what runs in the whole programme against `job_concurrency`, picks the next job by fair share
and flips it from `queued` to `running` with a conditional UPDATE; so any number of runner processes
share one queue and never take the same job.

Fair share is by compute used, not by turns. Among the workspaces with a queued job, the next job
comes from the one with the fewest jobs running now; then from the one whose jobs used the least
compute (cpu_seconds + gpu_seconds, what the jobs were charged) over the last FAIR_SHARE_WINDOW,
counting every job that ran in that window (finished in it, or last beat in it); then, on a tie,
from the one whose last job started longest ago (round robin); first in first out inside a
workspace. So a workspace that just ran a two-hour fine-tune waits behind one that ran a one-minute
batch, until the window forgets the fine-tune. Tokens are left out: they measure model calls made
through the gateway, which the gateway's own quotas share.

A running job's heartbeat is written every `job_heartbeat_seconds`, and with it the wall-clock time
it held a slot of the pool is charged as cpu_seconds (the pool's unit: one slot is one job's worth of
CPU), less whatever CPU time the kind charged itself, so a job pays the larger of the two.
A job whose heartbeat is older than `job_stale_seconds` lost its runner (killed, machine gone):
any runner marks it `interrupted`, and `resume` queues it again from its last checkpoint.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError
from finsandbox.jobs.base import (
    AllocationExceeded,
    JobCancelled,
    TrialFollower,
    follow_trials,
    get_kind,
    trial_followers,
)
from finsandbox.jobs.service import ACTIVE, check_charge, job_dir, now
from finsandbox.store import session_scope
from finsandbox.store.models import Job

log = logging.getLogger("finsandbox.jobs")
CLAIM_LOCK = 4663381  # PostgreSQL advisory lock for claims (the ledger's is 4663380's neighbour)
PROGRESS_EVERY_S = 1.0
CHECKPOINT_LEDGER_EVERY_S = 30.0
MILESTONES = (0.25, 0.5, 0.75)
FAIR_SHARE_WINDOW = timedelta(hours=24)


def new_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- claiming ---------------------------------------------------------------------------------------


def reap_stale(*, stale_seconds: float | None = None) -> list[str]:
    """Mark running jobs whose runner stopped beating as interrupted (resumable); returns their ids."""
    stale = stale_seconds if stale_seconds is not None else get_settings().job_stale_seconds
    cutoff = now() - timedelta(seconds=stale)
    with session_scope() as s:
        ids = list(
            s.scalars(select(Job.id).where(Job.state.in_(ACTIVE), Job.heartbeat_at < cutoff).limit(100))
        )
    reaped = []
    for job_id in ids:
        with session_scope(write=True) as s:
            job = s.get(Job, job_id)
            if (
                job is None
                or job.state not in ACTIVE
                or job.heartbeat_at is None
                or job.heartbeat_at >= cutoff
            ):
                continue
            was_cancelling = job.state == "cancelling"
            job.state = "cancelled" if was_cancelling else "interrupted"
            job.error = (
                None
                if was_cancelling
                else (
                    f"its runner ({job.runner}) stopped: no heartbeat since {job.heartbeat_at.isoformat()}; "
                    "resume the job to go on from its last checkpoint"
                )
            )
            job.runner = None
            job.finished_at = now() if was_cancelling else None
            job.updated_at = now()
            ledger.append(
                s,
                actor="jobs:runner",
                kind="job.cancelled" if was_cancelling else "job.interrupted",
                workspace_id=job.workspace_id,
                payload={"job_id": job.id, "kind": job.kind, "reason": "runner heartbeat lost"},
            )
            reaped.append(job.id)
    return reaped


def compute_used(s: Session, workspace_ids: set[str] | list[str]) -> dict[str, float]:
    """CPU- plus GPU-seconds charged to each workspace's jobs that ran within FAIR_SHARE_WINDOW (a job
    counts whole when it finished, or last beat, inside the window); workspaces without any are left out."""
    cutoff = now() - FAIR_SHARE_WINDOW
    last_ran = func.coalesce(Job.finished_at, Job.heartbeat_at, Job.started_at)
    rows = s.execute(
        select(Job.workspace_id, func.sum(Job.cpu_seconds + Job.gpu_seconds))
        .where(Job.workspace_id.in_(list(workspace_ids)), Job.started_at.is_not(None), last_ran >= cutoff)
        .group_by(Job.workspace_id)
    ).all()
    return {ws: float(total or 0.0) for ws, total in rows}


def _pick(s: Session) -> Job | None:
    """The next job by fair share (see the module's docstring), or None when nothing is queued."""
    queued = list(
        s.scalars(select(Job).where(Job.state == "queued").order_by(Job.queued_at, Job.id).limit(500))
    )
    if not queued:
        return None
    workspaces = {j.workspace_id for j in queued}
    running = dict(
        s.execute(
            select(Job.workspace_id, func.count())
            .where(Job.state.in_(ACTIVE), Job.workspace_id.in_(workspaces))
            .group_by(Job.workspace_id)
        ).all()
    )
    last = dict(
        s.execute(
            select(Job.workspace_id, func.max(Job.started_at))
            .where(Job.workspace_id.in_(workspaces), Job.started_at.is_not(None))
            .group_by(Job.workspace_id)
        ).all()
    )
    used = compute_used(s, workspaces)
    first: dict[str, Job] = {}
    for job in queued:
        first.setdefault(job.workspace_id, job)

    def share(ws: str) -> tuple[int, float, float, float]:
        started = last.get(ws)
        return (
            int(running.get(ws, 0)),
            round(used.get(ws, 0.0), 3),
            started.timestamp() if started is not None else 0.0,
            first[ws].queued_at.timestamp(),
        )

    return first[min(first, key=share)]


def claim(runner_id: str, *, concurrency: int | None = None) -> str | None:
    """Take the next job for this runner, if the programme has a free slot; its id, or None."""
    limit = concurrency if concurrency is not None else get_settings().job_concurrency
    with session_scope() as s:  # a cheap look first: an idle queue never takes the write lock
        if s.scalar(select(Job.id).where(Job.state == "queued").limit(1)) is None:
            return None
    with session_scope(write=True) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK})
        busy = s.scalar(select(func.count()).select_from(Job).where(Job.state.in_(ACTIVE))) or 0
        if busy >= limit:
            return None
        job = _pick(s)
        if job is None:
            return None
        at = now()
        taken = s.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == "queued")
            .values(
                state="running",
                runner=runner_id,
                heartbeat_at=at,
                started_at=at,
                updated_at=at,
                attempts=Job.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            return None
        ledger.append(
            s,
            actor=f"jobs:{runner_id}",
            kind="job.resumed" if job.resume_state is not None or job.attempts > 0 else "job.started",
            workspace_id=job.workspace_id,
            payload={"job_id": job.id, "kind": job.kind, "attempt": job.attempts + 1, "runner": runner_id},
        )
        return job.id


# --- one job's context -------------------------------------------------------------------------------


class Context:
    """The runner's JobContext for one run of one job."""

    def __init__(self, job: Job, runner_id: str) -> None:
        self.job_id = job.id
        self.workspace_id = job.workspace_id
        self.kind = job.kind
        self.params: dict[str, Any] = dict(job.params or {})
        self.resume_state: dict[str, Any] | None = job.resume_state
        self.work_dir: Path = job_dir(job.workspace_id, job.id)
        self.runner_id = runner_id
        self.actor = f"job:{job.id}"
        self.stop_reason: FinsandboxError | None = None  # set when the allocation ran out mid-run
        self.lost = False  # another runner took the job over (ours was taken for dead)
        self._last_progress = 0.0
        self.last_progress: tuple[int, int, str] | None = None
        # CPU time a kind charged itself (a trainer measuring its steps) and the slot time the heartbeat
        # charged: the job pays the larger of its wall-clock time and what the kind reported, never both.
        self.kind_cpu_seconds = 0.0
        self.slot_cpu_seconds = 0.0
        self._milestones_done = {
            m for m in MILESTONES if job.progress_total and job.progress_done / job.progress_total >= m
        }
        self._last_checkpoint_entry = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(write=True) as s:
            yield s

    def _mine(self) -> Any:
        return (Job.id == self.job_id) & (Job.runner == self.runner_id)

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.last_progress = (int(done), int(total), str(message)[:300])  # written at the end if throttled
        t = time.monotonic()
        final = total > 0 and done >= total
        # A quarter passed is a ledger entry (never more than three per run, plus the end).
        reached = [m for m in MILESTONES if total and done / total >= m and m not in self._milestones_done]
        if not (final or reached or done == 0) and t - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = t
        with session_scope(write=True) as s:
            s.execute(
                update(Job)
                .where(self._mine())
                .values(
                    progress_done=int(done),
                    progress_total=int(total),
                    progress_message=str(message)[:300],
                    updated_at=now(),
                )
            )
            if reached and not final:
                self._milestones_done.update(reached)
                ledger.append(
                    s,
                    actor=self.actor,
                    kind="job.progress",
                    workspace_id=self.workspace_id,
                    payload={"job_id": self.job_id, "done": int(done), "total": int(total)},
                )

    def cancelled(self) -> bool:
        if self.lost or self.stop_reason is not None:
            return True
        with session_scope() as s:
            state = s.scalar(select(Job.state).where(Job.id == self.job_id))
        return state != "running"

    def charge(self, *, cpu_seconds: float = 0, gpu_seconds: float = 0, tokens: int = 0) -> None:
        with self._lock:
            self.kind_cpu_seconds += float(cpu_seconds)
        self._charge(cpu_seconds, gpu_seconds, tokens)

    def _charge(self, cpu_seconds: float = 0, gpu_seconds: float = 0, tokens: int = 0) -> None:
        if not (cpu_seconds or gpu_seconds or tokens):
            return
        with self._lock:
            with session_scope(write=True) as s:
                s.execute(
                    update(Job)
                    .where(Job.id == self.job_id)
                    .values(
                        cpu_seconds=Job.cpu_seconds + float(cpu_seconds),
                        gpu_seconds=Job.gpu_seconds + float(gpu_seconds),
                        tokens=Job.tokens + int(tokens),
                    )
                )
            try:
                with session_scope() as s:
                    check_charge(s, self.workspace_id)
            except AllocationExceeded as exc:
                self.stop_reason = exc
                raise

    def record(self, event: str, payload: dict[str, Any]) -> None:
        with session_scope(write=True) as s:
            ledger.append(
                s,
                actor=self.actor,
                kind=f"job.{event}"[:60],
                workspace_id=self.workspace_id,
                payload={"job_id": self.job_id, **payload},
            )

    def checkpoint(self, state: dict[str, Any]) -> None:
        t = time.monotonic()
        with session_scope(write=True) as s:
            s.execute(update(Job).where(self._mine()).values(resume_state=state, updated_at=now()))
            if t - self._last_checkpoint_entry >= CHECKPOINT_LEDGER_EVERY_S:
                self._last_checkpoint_entry = t
                ledger.append(
                    s,
                    actor=self.actor,
                    kind="job.checkpointed",
                    workspace_id=self.workspace_id,
                    payload={
                        "job_id": self.job_id,
                        "state_digest": ledger.sha256_hex(ledger.canonical(state)),
                    },
                )
        self.resume_state = state


class _Heartbeat(threading.Thread):
    """Beats, charges the slot's wall-clock time, notices a takeover or a spent allocation."""

    def __init__(self, ctx: Context, every: float) -> None:
        super().__init__(name=f"job-heartbeat-{ctx.job_id[:8]}", daemon=True)
        self.ctx = ctx
        self.every = every
        self.halt = threading.Event()
        self.began = time.monotonic()

    def beat(self) -> None:
        wall = time.monotonic() - self.began
        with self.ctx._lock:
            owed = max(0.0, wall - self.ctx.kind_cpu_seconds - self.ctx.slot_cpu_seconds)
            self.ctx.slot_cpu_seconds += owed
        with session_scope(write=True) as s:
            mine = s.execute(update(Job).where(self.ctx._mine()).values(heartbeat_at=now())).rowcount
        if not mine:
            self.ctx.lost = True
            return
        # On AllocationExceeded ctx.stop_reason is set: the kind sees cancelled(), the job fails with it.
        with suppress(AllocationExceeded):
            self.ctx._charge(cpu_seconds=owed)

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat of job %s failed", self.ctx.job_id)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=self.every + 5)
        try:
            self.beat()  # the last partial interval is charged too
        except Exception:
            log.exception("last heartbeat of job %s failed", self.ctx.job_id)


def execute(job_id: str, runner_id: str) -> str:
    """Run a job this runner claimed, to its end; returns the state it ended in."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None or job.runner != runner_id:
            return "lost"
        ctx = Context(job, runner_id)
    heartbeat = _Heartbeat(ctx, get_settings().job_heartbeat_seconds)
    heartbeat.start()
    state, error, result = "failed", None, None
    try:
        kind = get_kind(ctx.kind)
        result = kind.run(ctx)
        state = "succeeded"
    except JobCancelled:
        state = "cancelled"
    except AllocationExceeded as exc:
        state, error = "failed", exc.message
    except FinsandboxError as exc:
        state, error = "failed", exc.message
    except (KeyboardInterrupt, SystemExit):
        state, error = (
            "interrupted",
            "the runner was stopped; resume the job to go on from its last checkpoint",
        )
        raise
    except Exception as exc:
        log.exception("job %s failed", job_id)
        state, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        heartbeat.stop()
        if ctx.stop_reason is not None and state != "failed":
            state, error = "failed", ctx.stop_reason.message
        state = _finish(ctx, state, error, result)
    return state


def _finish(ctx: Context, state: str, error: str | None, result: dict[str, Any] | None) -> str:
    with session_scope(write=True) as s:
        job = s.get(Job, ctx.job_id)
        if job is None or job.runner != ctx.runner_id:
            return "lost"  # taken for dead and handed on; the new holder writes the end
        if state == "succeeded" and job.state == "cancelling" and ctx.stop_reason is None:
            # The kind returned after seeing the cancel: whatever it did is kept, but it did not finish.
            done_all = job.progress_total and job.progress_done >= job.progress_total
            state = "succeeded" if done_all else "cancelled"
        job.state = state
        job.error = error
        if ctx.last_progress is not None:
            job.progress_done, job.progress_total, job.progress_message = ctx.last_progress
        if result is not None:
            job.result = result
        job.runner = None
        job.updated_at = now()
        job.finished_at = now() if state in ("succeeded", "failed", "cancelled") else None
        ledger.append(
            s,
            actor=ctx.actor,
            kind=f"job.{state}",
            workspace_id=job.workspace_id,
            payload={
                "job_id": job.id,
                "kind": job.kind,
                "error": error,
                "used": {
                    "cpu_seconds": round(job.cpu_seconds, 3),
                    "gpu_seconds": round(job.gpu_seconds, 3),
                    "tokens": job.tokens,
                },
                "result_digest": ledger.sha256_hex(ledger.canonical(result or {})),
            },
        )
        return state


# --- where a job runs ---------------------------------------------------------------------------------


def _execute_on_ray(job_id: str, runner_id: str) -> str:
    """The job's whole run as a Ray task (on the configured cluster, or a local Ray), against the same
    database; heartbeat, charges and the end are written from there exactly as locally."""
    try:
        import ray
    except ImportError:
        from finsandbox.errors import ConfigError

        raise ConfigError("FINSANDBOX_JOB_EXECUTOR=ray needs Ray: pip install 'finsandbox[ray]'") from None
    settings = get_settings()
    if not ray.is_initialized():
        ray.init(
            address=settings.ray_address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    remote = ray.remote(_remote_execute)
    # While the task waits for a worker (and as long as it runs) this runner holds the job: keep its
    # heartbeat fresh from here, so a slow start on the cluster is not taken for a dead runner.
    halt = threading.Event()
    keepalive = threading.Thread(
        target=_keep_alive, args=(job_id, runner_id, halt, settings.job_heartbeat_seconds), daemon=True
    )
    keepalive.start()
    try:
        return str(
            ray.get(
                remote.remote(
                    job_id, runner_id, settings.resolved_database_url, str(settings.home), trial_followers()
                )
            )
        )
    finally:
        halt.set()
        keepalive.join(timeout=settings.job_heartbeat_seconds + 5)


def _keep_alive(job_id: str, runner_id: str, halt: threading.Event, every: float) -> None:
    while not halt.wait(every):
        try:
            with session_scope(write=True) as s:
                s.execute(
                    update(Job).where(Job.id == job_id, Job.runner == runner_id).values(heartbeat_at=now())
                )
        except Exception:
            log.exception("keeping job %s alive failed", job_id)


def _remote_execute(
    job_id: str, runner_id: str, database_url: str, home: str, followers: tuple[TrialFollower, ...] = ()
) -> str:
    os.environ["FINSANDBOX_DATABASE_URL"] = database_url
    os.environ["FINSANDBOX_HOME"] = home
    get_settings.cache_clear()
    for follower in followers:  # what the edge registered here, registered there too
        follow_trials(follower)
    return execute(job_id, runner_id)


def run_claimed(job_id: str, runner_id: str) -> str:
    """Run a claimed job where the settings say (`job_executor`: local or ray)."""
    if get_settings().job_executor == "ray":
        try:
            return _execute_on_ray(job_id, runner_id)
        except FinsandboxError as exc:
            return _finish_failed(job_id, runner_id, exc.message)
    return execute(job_id, runner_id)


def _finish_failed(job_id: str, runner_id: str, message: str) -> str:
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            return "lost"
        ctx = Context(job, runner_id)
    return _finish(ctx, "failed", message, None)


# --- the loop --------------------------------------------------------------------------------------------


class Runner:
    """Claims and runs jobs until stopped; up to `slots` at once in this process (the programme-wide
    limit is enforced at claim time, so several runners never exceed `job_concurrency` together)."""

    def __init__(
        self, *, slots: int | None = None, poll_seconds: float = 1.0, runner_id: str | None = None
    ) -> None:
        self.slots = max(1, slots if slots is not None else get_settings().job_concurrency)
        self.poll_seconds = poll_seconds
        self.runner_id = runner_id or new_runner_id()
        self.stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.finished: list[tuple[str, str]] = []

    def _start(self, job_id: str) -> None:
        def work() -> None:
            try:
                state = run_claimed(job_id, self.runner_id)
                self.finished.append((job_id, state))
            except Exception:
                log.exception("job %s: the runner failed around it", job_id)

        thread = threading.Thread(target=work, name=f"job-{job_id[:8]}", daemon=True)
        self._threads[job_id] = thread
        thread.start()

    def tick(self) -> list[str]:
        """Reap dead runners' jobs, then claim what fits; the ids started."""
        started = []
        try:
            reap_stale()
        except Exception:
            log.exception("reaping stale jobs failed")
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        while len(self._threads) < self.slots and not self.stopping.is_set():
            job_id = claim(self.runner_id)
            if job_id is None:
                break
            self._start(job_id)
            started.append(job_id)
        return started

    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads.values())

    def run(self, *, until_idle: bool = False, max_jobs: int | None = None) -> None:
        """Claim and run; with `until_idle`, return once nothing runs here and nothing can be claimed."""
        count = 0
        while not self.stopping.is_set():
            started = self.tick()
            count += len(started)
            if max_jobs is not None and count >= max_jobs:
                self.stopping.set()
                break
            if until_idle and not started and not self.busy():
                break
            self.stopping.wait(self.poll_seconds)
        for thread in list(self._threads.values()):
            thread.join()

    def stop(self) -> None:
        self.stopping.set()


_background: Runner | None = None


def start_background() -> Runner:
    """A runner in a daemon thread of this process (for `finsandbox serve`); idempotent."""
    global _background
    if _background is not None:
        return _background
    runner = Runner()
    thread = threading.Thread(target=runner.run, name="job-runner", daemon=True)
    thread.start()
    _background = runner

    def release() -> None:
        # Leaving: what this process was running is handed back at once rather than after the stale delay.
        runner.stop()
        try:
            with session_scope(write=True) as s:
                for job in s.scalars(
                    select(Job).where(Job.runner == runner.runner_id, Job.state.in_(ACTIVE))
                ):
                    job.state = "interrupted"
                    job.error = "the server stopped; resume the job to go on from its last checkpoint"
                    job.runner = None
                    ledger.append(
                        s,
                        actor=f"jobs:{runner.runner_id}",
                        kind="job.interrupted",
                        workspace_id=job.workspace_id,
                        payload={"job_id": job.id, "kind": job.kind, "reason": "server stopped"},
                    )
        except Exception:
            log.exception("handing back running jobs failed")

    atexit.register(release)
    return runner
