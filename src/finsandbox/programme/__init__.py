"""The programme: cohorts, applications and their rubric, the use-case lifecycle, workspaces, membership."""

from finsandbox.gateway.endpoints import get_endpoint, list_endpoints
from finsandbox.programme.applications import (
    admit,
    application_as_dict,
    assess,
    assessment_summary,
    decline,
    get_application,
    list_applications,
    start_assessment,
    submit_application,
    update_application,
    withdraw,
)
from finsandbox.programme.cohorts import (
    add_workspace,
    close_cohort,
    cohort_workspaces,
    create_cohort,
    get_cohort,
    list_cohorts,
    open_cohort,
)
from finsandbox.programme.lifecycle import (
    STATES,
    change_state,
    mark_experimenting,
    mark_under_review,
    workspace_state,
)
from finsandbox.programme.rubric import load_rubric
from finsandbox.programme.workspaces import (
    add_endpoint,
    add_member,
    create_workspace,
    get_workspace,
    list_members,
    list_workspaces,
    set_guard_policy,
)

__all__ = [
    "STATES",
    "add_endpoint",
    "add_member",
    "add_workspace",
    "admit",
    "application_as_dict",
    "assess",
    "assessment_summary",
    "change_state",
    "close_cohort",
    "cohort_workspaces",
    "create_cohort",
    "create_workspace",
    "decline",
    "get_application",
    "get_cohort",
    "get_endpoint",
    "get_workspace",
    "list_applications",
    "list_cohorts",
    "list_endpoints",
    "list_members",
    "list_workspaces",
    "load_rubric",
    "mark_experimenting",
    "mark_under_review",
    "open_cohort",
    "set_guard_policy",
    "start_assessment",
    "submit_application",
    "update_application",
    "withdraw",
    "workspace_state",
]
