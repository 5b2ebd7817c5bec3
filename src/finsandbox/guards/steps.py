"""Running guards: one guard under its timeout, or a chain of them over one text, failing closed.

Every guard call runs in a small shared thread pool under its timeout: an exception, a timeout or a
malformed decision is a block, never a pass. Python cannot kill a stuck thread, so a guard that hangs
keeps its worker; once all workers are stuck, every call times out and blocks (still closed).

The pipeline (whole requests and replies) and the stream guard (replies released window by window)
both run guards through here, so neither needs the other.

A whole request or reply is checked as one *watched job* (`watched`, `watched_async`): the job runs
in one pool thread, every guard of it inline, and whoever waits enforces each guard's own timeout
from the guard's start, giving up on the job (a block naming that guard) when one overruns. The
result is the same as running each guard in the pool under its timeout, with one thread hand-off
per job instead of two per guard: on a small loaded machine each hand-off costs a wake-up, and a
gateway call checks its input and its output with two to five guards each.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from finsandbox.guards.base import Action, Decision, Guard, GuardContext
from finsandbox.guards.policy import GuardPolicy
from finsandbox.guards.text import sanitize

_POOL_WORKERS = 16
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
# While no guard of a watched job is running, the waiter looks again this often (seconds): the
# job's own code between guards is quick, so this only bounds how late a hung guard's timeout
# could start to count.
_IDLE_POLL_S = 0.05
T = TypeVar("T")


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_POOL_WORKERS, thread_name_prefix="finsandbox-guard")
    return _pool


@dataclass(frozen=True)
class Step:
    """One guard of a policy, ready to run, with its timeout."""

    guard: Guard
    timeout_s: float


class StepRunner(Protocol):
    """What a stream guard needs from a pipeline: the policy, the output steps, and a way to run them."""

    policy: GuardPolicy
    output_steps: list[Step]

    def _run_one(self, step: Step, text: str, context: GuardContext) -> Decision: ...

    def _run_chain(
        self, steps: list[Step], text: str, context: GuardContext, location: str
    ) -> tuple[str, list[Decision], bool]: ...

    def _check_strings(
        self,
        steps: list[Step],
        strings: list[str],
        context: GuardContext,
        where: str,
        decisions: list[Decision],
    ) -> list[str]: ...


def run_one(step: Step, text: str, context: GuardContext, location: str | None = None) -> Decision:
    """One guard's decision under its timeout; any failure is a block."""
    watch = getattr(_local, "watch", None)
    if watch is not None:
        return watch.run(step, text, context, location)
    name = _name(step)
    future = _executor().submit(step.guard.check, text, context)
    try:
        decision = future.result(timeout=step.timeout_s)
    except FutureTimeout:
        future.cancel()
        return failed(name, text, _timed_out(step))
    except Exception as exc:  # fail closed: the exception type only, its message may quote the text
        return failed(name, text, f"guard failed ({type(exc).__name__})")
    return _checked(name, text, decision)


def _name(step: Step) -> str:
    return getattr(step.guard, "name", type(step.guard).__name__)


def _timed_out(step: Step) -> str:
    return f"guard timed out after {round(step.timeout_s * 1000)} ms"


def _checked(name: str, text: str, decision: object) -> Decision:
    if (
        not isinstance(decision, Decision)
        or not isinstance(decision.text, str)
        or decision.action not in Action
    ):
        return failed(name, text, "guard returned an invalid decision")
    return decision


def run_chain(
    steps: list[Step], text: str, context: GuardContext, location: str
) -> tuple[str, list[Decision], bool]:
    """(text after redactions, decisions, blocked?) for one text through a list of guards."""
    decisions: list[Decision] = []
    cleaned, removed = sanitize(text)
    if removed:
        decisions.append(
            Decision("sanitize", Action.REDACT, cleaned, f"removed {removed} control character(s)", 1.0)
        )
    current = cleaned
    watch = getattr(_local, "watch", None)
    if watch is not None and removed:
        watch.record(decisions[-1])
    for step in steps:
        decision = run_one(step, current, context, location)
        if decision.location != location:
            decision = replace(decision, location=location)
        decisions.append(decision)
        if decision.action is Action.BLOCK:
            return current, decisions, True
        if decision.action is Action.REDACT:
            current = decision.text
    return current, decisions, False


def failed(name: str, text: str, reason: str) -> Decision:
    """The block a broken guard stands for."""
    return Decision(guard=name, action=Action.BLOCK, text=text, reason=reason, score=1.0)


# -- watched jobs ---------------------------------------------------------------------------------

_local = threading.local()


class _Abandoned(Exception):
    """The waiter gave up on this job (a guard overran); nothing more of it may happen."""


@dataclass(frozen=True)
class _Running:
    serial: int
    deadline: float
    step: Step
    text: str
    location: str | None


class Watch:
    """The guard steps of one job, as its waiter sees them: which runs now, and until when.

    While no guard runs, `idle` (the job's first guard) bounds the wait: a job that cannot start
    a guard within that guard's timeout (every pool thread stuck on a hung guard) is a block, as
    a guard queued behind them would have been.
    """

    def __init__(self, idle: Step | None) -> None:
        self._lock = threading.Lock()
        self._serial = 0
        self._idle = idle
        self._idle_until = time.monotonic() + (idle.timeout_s if idle else 1.0)
        self.running: _Running | None = None
        self.decisions: list[Decision] = []  # every decision so far, in order (the job's result on a block)
        self.abandoned = False

    def run(self, step: Step, text: str, context: GuardContext, location: str | None) -> Decision:
        """Run one guard inline in the job's thread, under the waiter's eye."""
        with self._lock:
            if self.abandoned:
                raise _Abandoned
            self._serial += 1
            self.running = _Running(self._serial, time.monotonic() + step.timeout_s, step, text, location)
        name = _name(step)
        try:
            decision = _checked(name, text, step.guard.check(text, context))
        except Exception as exc:  # fail closed: the exception type only, its message may quote the text
            decision = failed(name, text, f"guard failed ({type(exc).__name__})")
        if decision.location != location:
            decision = replace(decision, location=location)
        with self._lock:
            if self.abandoned:
                raise _Abandoned
            self.running = None
            self._idle_until = time.monotonic() + (self._idle.timeout_s if self._idle else 1.0)
            self.decisions.append(decision)
        return decision

    def record(self, decision: Decision) -> None:
        """A decision the job made without a guard (sanitising), kept in order with the others."""
        with self._lock:
            self.decisions.append(decision)

    def wait_for(self) -> float:
        """Seconds the waiter may sleep before it must look again."""
        running = self.running
        if running is None:
            return max(0.0, min(_IDLE_POLL_S, self._idle_until - time.monotonic()))
        return max(0.0, running.deadline - time.monotonic())

    def overran(self) -> Decision | None:
        """The block for a guard that has run past its timeout (and the job abandoned), or None."""
        with self._lock:
            running, now = self.running, time.monotonic()
            if running is None:
                if now < self._idle_until:
                    return None
                self.abandoned = True
                if self._idle is None:
                    return failed("guards", "", "no guard could start within 1000 ms")
                return failed(_name(self._idle), "", _timed_out(self._idle))
            if now < running.deadline:
                return None
            self.abandoned = True
            decision = failed(_name(running.step), running.text, _timed_out(running.step))
            return replace(decision, location=running.location)


def _job(watch: Watch, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    _local.watch = watch
    try:
        return fn(*args)
    finally:
        _local.watch = None


def _submit(fn: Callable[..., T], args: tuple[Any, ...], idle: Step | None) -> tuple[Watch, Future[T]]:
    watch = Watch(idle)
    return watch, _executor().submit(_job, watch, fn, args)


def watched(
    fn: Callable[..., T], *args: Any, on_timeout: Callable[[list[Decision]], T], idle: Step | None = None
) -> T:
    """`fn(*args)` as one job in the guard pool, every guard it runs under its own timeout.

    When a guard overruns, the job is abandoned and `on_timeout` gets the decisions made so far,
    ending with the overrunning guard's block; its value is returned.
    """
    if getattr(_local, "watch", None) is not None:
        return fn(*args)  # already inside a watched job: its waiter watches these guards too
    watch, future = _submit(fn, args, idle)
    while True:
        try:
            return future.result(timeout=watch.wait_for())
        except FutureTimeout:
            if (block := watch.overran()) is not None:
                return on_timeout([*watch.decisions, block])


async def watched_async(
    fn: Callable[..., T], *args: Any, on_timeout: Callable[[list[Decision]], T], idle: Step | None = None
) -> T:
    """As `watched`, awaited on an event loop: no thread is held while the job runs."""
    watch, future = _submit(fn, args, idle)
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait((waiting,), timeout=watch.wait_for())
        if done:
            return waiting.result()
        if (block := watch.overran()) is not None:
            waiting.cancel()
            return on_timeout([*watch.decisions, block])
