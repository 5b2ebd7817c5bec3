"""The programme: workspaces, membership and endpoints (cohorts and applications come later)."""

from finsandbox.programme.workspaces import (
    add_endpoint,
    add_member,
    create_workspace,
    get_endpoint,
    get_workspace,
    list_endpoints,
    list_members,
    list_workspaces,
    set_guard_policy,
)

__all__ = [
    "add_endpoint",
    "add_member",
    "create_workspace",
    "get_endpoint",
    "get_workspace",
    "list_endpoints",
    "list_members",
    "list_workspaces",
    "set_guard_policy",
]
