"""Cohorts live in `finsandbox.programme.cohorts`; supervision (insights, the CLI) imports them from here."""

from finsandbox.programme.cohorts import (
    COHORT_STATES,
    MIN_K,
    add_workspace,
    close_cohort,
    cohort_workspaces,
    create_cohort,
    get_cohort,
    list_cohorts,
    open_cohort,
)

__all__ = [
    "COHORT_STATES",
    "MIN_K",
    "add_workspace",
    "close_cohort",
    "cohort_workspaces",
    "create_cohort",
    "get_cohort",
    "list_cohorts",
    "open_cohort",
]
