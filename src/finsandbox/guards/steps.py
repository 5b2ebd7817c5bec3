"""Running guards: one guard under its timeout, or a chain of them over one text, failing closed.

Every guard call runs in a small shared thread pool under its timeout: an exception, a timeout or a
malformed decision is a block, never a pass. Python cannot kill a stuck thread, so a guard that hangs
keeps its worker; once all workers are stuck, every call times out and blocks (still closed).

The pipeline (whole requests and replies) and the stream guard (replies released window by window)
both run guards through here, so neither needs the other.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Protocol

from finsandbox.guards.base import Action, Decision, Guard, GuardContext
from finsandbox.guards.policy import GuardPolicy
from finsandbox.guards.text import sanitize

_POOL_WORKERS = 16
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


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


def run_one(step: Step, text: str, context: GuardContext) -> Decision:
    """One guard's decision under its timeout; any failure is a block."""
    name = getattr(step.guard, "name", type(step.guard).__name__)
    future = _executor().submit(step.guard.check, text, context)
    try:
        decision = future.result(timeout=step.timeout_s)
    except FutureTimeout:
        future.cancel()
        return failed(name, text, f"guard timed out after {round(step.timeout_s * 1000)} ms")
    except Exception as exc:  # fail closed: the exception type only, its message may quote the text
        return failed(name, text, f"guard failed ({type(exc).__name__})")
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
    for step in steps:
        decision = replace(run_one(step, current, context), location=location)
        decisions.append(decision)
        if decision.action is Action.BLOCK:
            return current, decisions, True
        if decision.action is Action.REDACT:
            current = decision.text
    return current, decisions, False


def failed(name: str, text: str, reason: str) -> Decision:
    """The block a broken guard stands for."""
    return Decision(guard=name, action=Action.BLOCK, text=text, reason=reason, score=1.0)
