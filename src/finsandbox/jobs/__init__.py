"""Jobs on the programme's shared compute pool: a queue per programme with fair share between
workspaces, per-workspace compute allocations, cancel and resume, every step in the ledger.

The contract a kind implements is `jobs.base` (`JobKind`, `JobContext`, its public names re-exported
here); kinds are registered in `registry.job_kinds`, one file each under `jobs/kinds/`.
"""

from finsandbox.jobs import base
from finsandbox.jobs.base import *  # noqa: F403  (the contract's public names, listed once: base.__all__)

__all__ = list(base.__all__)
