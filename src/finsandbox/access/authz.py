"""Who may do what, in one table: every service, route and (later) page asks `authorize`.

A user relates to a workspace as `supervisor` (the regulator sees the whole programme), `operator`
(runs the platform) or `member` (a participant with a membership). A participant asking about a
workspace that is not theirs is told it does not exist, so identifiers cannot be probed; anyone
else who may see a thing but not do something to it is told why not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from finsandbox.errors import AuthenticationFailed, NotFound, PermissionDenied
from finsandbox.store.models import Cohort, Membership, User, Workspace


@dataclass(frozen=True)
class Rule:
    """Who may do an action, and how to say no."""

    allowed: frozenset[str]
    refusal: str


def _rule(allowed: set[str], refusal: str) -> Rule:
    return Rule(frozenset(allowed), refusal)


RULES: dict[str, Rule] = {
    "scorecard.view": _rule(
        {"supervisor", "member"}, "only supervisors and workspace members see scorecards"
    ),
    "scorecard.build": _rule(
        {"supervisor", "member"}, "only supervisors and workspace members build scorecards"
    ),
    "review.view": _rule({"supervisor", "member"}, "only supervisors and workspace members see reviews"),
    "review.open": _rule({"supervisor"}, "only supervisors open reviews"),
    "review.add_finding": _rule({"supervisor"}, "only supervisors add findings"),
    "review.add_action": _rule({"supervisor"}, "only supervisors require actions"),
    "review.resolve": _rule({"supervisor"}, "only supervisors mark findings and actions resolved"),
    "review.decide": _rule({"supervisor"}, "only supervisors decide a review"),
    "review.respond": _rule({"member"}, "only members of the workspace respond to findings and actions"),
    "report.export": _rule({"supervisor", "member"}, "only supervisors and workspace members export reports"),
    "bundle.export": _rule({"supervisor", "member"}, "only supervisors and workspace members export bundles"),
    "insights.view": _rule({"supervisor"}, "only supervisors see cohort insights"),
    "cohort.view": _rule({"supervisor", "operator"}, "only supervisors and operators see cohorts"),
    "cohort.manage": _rule({"supervisor", "operator"}, "only supervisors and operators manage cohorts"),
    # Workspace pages: members see and (as owner or developer, "editor") change their own workspace.
    "workspace.view": _rule({"supervisor", "member"}, "only supervisors and workspace members see workspaces"),
    "key.manage": _rule({"editor"}, "only owners and developers of the workspace manage its keys"),
    "policy.edit": _rule({"editor"}, "only owners and developers of the workspace edit its guard policy"),
    "playground.use": _rule({"editor"}, "only owners and developers of the workspace use its playground"),
    "dataset.upload": _rule({"editor"}, "only owners and developers of the workspace upload datasets"),
    "trial.view": _rule({"supervisor", "member"}, "only supervisors and workspace members see trials"),
    "trial.launch": _rule({"editor"}, "only owners and developers of the workspace launch trials"),
    "usage.view": _rule({"operator", "supervisor"}, "only operators and supervisors see compute usage"),
    "ledger.verify": _rule({"operator", "supervisor"}, "only operators and supervisors verify the ledger"),
}
ACTIONS = tuple(RULES)
# Workspace roles that may change a workspace (keys, policy, trials), not only look at it.
EDITOR_ROLES = ("owner", "developer")

Resource = Workspace | Cohort | None


def relations(session: Session, user: User, resource: Resource) -> set[str]:
    """The roles `user` holds towards `resource` (a workspace, a cohort, or the programme)."""
    out: set[str] = set()
    if user.role == "supervisor":
        out.add("supervisor")
    elif user.role == "operator":
        out.add("operator")
    elif isinstance(resource, Workspace):
        role = session.scalars(
            select(Membership.role).where(Membership.workspace_id == resource.id, Membership.user_id == user.id)
        ).first()
        if role is not None:
            out.add("member")
            if role in EDITOR_ROLES:
                out.add("editor")
    return out


def can_see(session: Session, user: User, resource: Resource) -> bool:
    """Whether the resource's existence may be revealed to the user."""
    if user.role in ("supervisor", "operator") or not isinstance(resource, Workspace):
        return True  # only workspaces (and what is inside them) are hidden from other banks
    return "member" in relations(session, user, resource)


def authorize(user: User, action: str, resource: Resource = None, *, subject: str | None = None) -> None:
    """Return when `user` may do `action` on `resource`; raise NotFound or PermissionDenied otherwise.

    `subject` names the thing asked for ("scorecard 3f2a…"), for the not-found message.
    """
    rule = RULES.get(action)
    if rule is None:
        raise ValueError(f"unknown action {action!r}")  # a programming error, not a user's
    if not user.is_active:
        raise AuthenticationFailed(f"the account {user.email} is disabled", code="inactive_user")
    session = object_session(user)
    if session is None:
        raise ValueError("authorize needs a user attached to a session")
    have = relations(session, user, resource)
    if have & rule.allowed:
        return
    if not can_see(session, user, resource):
        what = subject or (
            f"workspace {resource.slug!r}" if isinstance(resource, Workspace) else "such object"
        )
        raise NotFound(f"no {what}")
    raise PermissionDenied(f"{rule.refusal} ({user.email} has the role {user.role})")


def allowed(user: User, action: str, resource: Resource = None) -> bool:
    """True when `authorize` would pass (for showing or hiding a button or a command)."""
    try:
        authorize(user, action, resource)
    except (NotFound, PermissionDenied, AuthenticationFailed):
        return False
    return True
