"""Jobs on the programme's shared compute pool: a queue per programme with fair share between
workspaces, per-workspace compute allocations, cancel and resume, every step in the ledger.

The contract a kind implements is `jobs.base` (`JobKind`, `JobContext`); kinds are registered in
`registry.job_kinds`, one file each under `jobs/kinds/`.
"""

from finsandbox.jobs.base import (
    RESOURCES,
    AllocationExceeded,
    JobCancelled,
    JobContext,
    JobKind,
    get_kind,
    iter_kinds,
    job_kind,
)

__all__ = [
    "RESOURCES",
    "AllocationExceeded",
    "JobCancelled",
    "JobContext",
    "JobKind",
    "get_kind",
    "iter_kinds",
    "job_kind",
]
