"""The fixed vocabulary of institution kinds, programme roles and workspace roles."""

from __future__ import annotations

INSTITUTION_KINDS = ("bank", "tech_partner", "supervisor", "operator")
USER_ROLES = ("participant", "supervisor", "operator")
WORKSPACE_ROLES = ("owner", "developer", "viewer")
THEMES = ("risk_management", "anti_fraud", "customer_service", "process_reengineering")

# Which programme role a user of each institution kind may hold.
ROLE_FOR_KIND = {
    "bank": "participant",
    "tech_partner": "participant",
    "supervisor": "supervisor",
    "operator": "operator",
}
