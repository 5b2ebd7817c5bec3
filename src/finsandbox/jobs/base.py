"""The job-kind contract: what a kind of job on the shared compute pool implements, and what it is given.

A job is long work a workspace asks the programme's compute pool to do (a batch trial, batch
inference, a fine-tune). The runner owns everything around it (the queue, fair share, the
allocation, cancel and resume, the ledger entries for each step); a kind only checks its
parameters, estimates what it will cost, and does the work through the `JobContext` it is handed.
Every model call a kind makes goes through the gateway, so guards, metering and the ledger apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, Protocol, overload, runtime_checkable

from sqlalchemy.orm import Session

from finsandbox import registry
from finsandbox.errors import Conflict, InvalidRequest

RESOURCES = ("cpu_seconds", "gpu_seconds", "tokens")
"""What an allocation limits and a job is charged for."""


class AllocationExceeded(Conflict):
    """A job would go (at submission) or went (while running) past what its workspace's allocation has
    left; refused with 409 at submission, failed with this message while running."""

    code = "allocation_exceeded"


class JobCancelled(Exception):
    """A kind may raise this when it sees `ctx.cancelled()`, instead of returning early."""


TrialFollower = Callable[[str], "dict[str, Any] | None"]
_trial_followers: list[TrialFollower] = []


def follow_trials(follower: TrialFollower) -> None:
    """Register what follows a trial a job completed (its scorecard is built then, as for a trial
    launched from a page). Supervision sits beside jobs, not below them, so the edge that runs jobs
    registers it; what the follower returns is added to the job's result. Idempotent."""
    if follower not in _trial_followers:
        _trial_followers.append(follower)


def trial_followers() -> tuple[TrialFollower, ...]:
    return tuple(_trial_followers)


@runtime_checkable
class JobContext(Protocol):
    """What a running job sees of the runner. One per run; a resumed job gets a fresh one."""

    job_id: str
    workspace_id: str
    params: dict[str, Any]
    resume_state: dict[str, Any] | None  # what the last checkpoint() saved, on resume; None at first
    work_dir: Path  # private per-job directory under the workspace's data dir (0700)

    def session(self) -> AbstractContextManager[Session]:
        """A store session that commits on exit (rolls back on error)."""
        ...

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Record progress; persisted (throttled), shown by the CLI, the API and the web page."""
        ...

    def cancelled(self) -> bool:
        """Poll: True once a cancel was asked for; the kind then stops cleanly (return or JobCancelled)."""
        ...

    def charge(self, *, cpu_seconds: float = 0, gpu_seconds: float = 0, tokens: int = 0) -> None:
        """Add to the job's compute used; AllocationExceeded when the workspace's allocation is spent."""
        ...

    def record(self, event: str, payload: dict[str, Any]) -> None:
        """A ledger entry `job.<event>` for the workspace (redacted payload: counts, digests, names)."""
        ...

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Save what a resumed run needs to continue (JSON); it comes back as `resume_state`."""
        ...


class JobKind:
    """Base class of every job kind; a subclass sets `name` (through `@job_kind`) and implements the three."""

    name: ClassVar[str]
    title: ClassVar[str] = ""  # a human label for pages and lists
    # The parameters a form offers: name -> {"label", "type" ("str" | "int" | "float" | "bool"),
    # "required", "help", "default"}; only for edges that render a form, never for validation.
    fields: ClassVar[dict[str, dict[str, Any]]] = {}

    def validate(self, params: dict[str, Any], *, session: Session, workspace_id: str) -> dict[str, Any]:
        """The normalised parameters, or a domain error (InvalidRequest, NotFound) with `param` set."""
        raise NotImplementedError

    def reject_unknown(self, params: dict[str, Any], *, also: tuple[str, ...] = ()) -> None:
        """InvalidRequest naming the first parameter that is neither a form field nor one of `also`,
        so a typo is refused at submission instead of silently ignored."""
        unknown = sorted(set(params) - set(self.fields) - set(also))
        if unknown:
            raise InvalidRequest(f"unknown parameter {unknown[0]!r} for {self.name}", param=unknown[0])

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        """A rough cost, e.g. {"cpu_seconds": 600, "tokens": 40000}, for admission against the allocation."""
        raise NotImplementedError

    def run(self, ctx: JobContext) -> dict[str, Any]:
        """Do the work (from `ctx.resume_state` when set); the summary returned is stored on the job."""
        raise NotImplementedError


@overload
def int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int: ...
@overload
def int_param(params: dict[str, Any], name: str, default: None, low: int, high: int) -> int | None: ...
def int_param(params: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    """A whole-number parameter between `low` and `high` (`default` when absent or empty), or
    InvalidRequest naming it: form values arrive as text, API values as anything JSON holds."""
    value = params.get(name, default)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a whole number", param=name)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequest(f"{name} must be a whole number", param=name) from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}", param=name)
    return number


def iter_kinds() -> Iterator[type[JobKind]]:
    """Every registered kind, built-in and plugin, by name."""
    for name in registry.job_kinds.names():
        yield registry.job_kinds.get(name)


def get_kind(name: str) -> JobKind:
    """An instance of the kind registered as `name`; an unknown name is a ConfigError listing them."""
    cls: type[JobKind] = registry.job_kinds.get(name)
    return cls()


job_kind = registry.job_kinds.register
"""Class decorator: register a job kind under the name `job submit KIND` uses."""

__all__ = [
    "RESOURCES",
    "AllocationExceeded",
    "JobCancelled",
    "JobContext",
    "JobKind",
    "TrialFollower",
    "follow_trials",
    "get_kind",
    "int_param",
    "iter_kinds",
    "job_kind",
    "trial_followers",
]
