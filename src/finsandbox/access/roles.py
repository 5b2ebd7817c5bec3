"""The fixed vocabulary of institution kinds, programme roles and workspace roles."""

from __future__ import annotations

from typing import Literal, get_args

INSTITUTION_KINDS = ("bank", "tech_partner", "supervisor", "operator")
USER_ROLES = ("participant", "supervisor", "operator")
WORKSPACE_ROLES = ("owner", "developer", "viewer")
# The one list of themes: cohorts, applications, workspaces, suites and reference use cases use it.
Theme = Literal["risk_management", "anti_fraud", "customer_service", "process_reengineering"]
THEMES: tuple[str, ...] = get_args(Theme)

# Which programme role a user of each institution kind may hold.
ROLE_FOR_KIND = {
    "bank": "participant",
    "tech_partner": "participant",
    "supervisor": "supervisor",
    "operator": "operator",
}
