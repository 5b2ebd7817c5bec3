"""Who may do what, in one table: every service, route and page asks `authorize`.

A user relates to a resource as `supervisor` (the regulator sees the whole programme), `operator`
(runs the platform), `member` of its workspace, or `applicant`/`partner` of its application (see
`relations`). A participant asking about a workspace, anything inside one, or an application that is not
theirs is told it does not exist, so identifiers cannot be probed; anyone else who may see a thing but
not do something to it is told why not. Supervisors see everything of the programme and may change
nothing a participant owns (keys, trials, datasets, policies, applications' contents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from finsandbox.access.closure import closed_error, is_closed
from finsandbox.errors import AuthenticationFailed, NotFound, PermissionDenied
from finsandbox.store.models import (
    Application,
    Assessment,
    Cohort,
    LedgerEntry,
    Membership,
    User,
    Workspace,
)


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
    # Cohorts are the programme's public calendar: every signed-in person sees them to apply.
    "cohort.view": _rule({"supervisor", "operator", "participant"}, "only signed-in people see cohorts"),
    "cohort.manage": _rule({"supervisor", "operator"}, "only supervisors and operators manage cohorts"),
    # Workspace pages: members see and (as owner or developer, "editor") change their own workspace.
    "workspace.view": _rule(
        {"supervisor", "member"}, "only supervisors and workspace members see workspaces"
    ),
    "key.manage": _rule({"editor"}, "only owners and developers of the workspace manage its keys"),
    "policy.edit": _rule({"editor"}, "only owners and developers of the workspace edit its guard policy"),
    "playground.use": _rule({"editor"}, "only owners and developers of the workspace use its playground"),
    "dataset.view": _rule({"supervisor", "member"}, "only supervisors and workspace members see datasets"),
    "dataset.upload": _rule({"editor"}, "only owners and developers of the workspace upload datasets"),
    "dataset.delete": _rule({"editor"}, "only owners and developers of the workspace delete datasets"),
    "trial.view": _rule({"supervisor", "member"}, "only supervisors and workspace members see trials"),
    "trial.launch": _rule({"editor"}, "only owners and developers of the workspace launch trials"),
    "finetune.run": _rule({"editor"}, "only owners and developers of the workspace fine-tune models"),
    # Jobs on the shared compute pool: the workspace's editors submit, cancel and resume; supervisors and
    # operators read; the operator (who runs the pool) may also cancel, and alone sets allocations.
    "job.view": _rule(
        {"supervisor", "operator", "member"}, "only supervisors, operators and workspace members see jobs"
    ),
    "job.submit": _rule({"editor"}, "only owners and developers of the workspace submit jobs"),
    "job.cancel": _rule(
        {"editor", "operator"}, "only owners and developers of the workspace cancel its jobs"
    ),
    "job.resume": _rule({"editor"}, "only owners and developers of the workspace resume its jobs"),
    "job.allocation.view": _rule(
        {"supervisor", "operator", "member"},
        "only supervisors, operators and workspace members see allocations",
    ),
    "job.allocation.set": _rule({"operator"}, "only operators set compute allocations"),
    "usage.view": _rule({"operator", "supervisor"}, "only operators and supervisors see compute usage"),
    "ledger.verify": _rule({"operator", "supervisor"}, "only operators and supervisors verify the ledger"),
    "cohort.dashboard": _rule({"supervisor"}, "only supervisors see the cohort dashboard of every use case"),
    # Programme lifecycle: a bank applies (optionally with a tech partner), supervisors assess and decide.
    "application.submit": _rule({"bank"}, "only bank users submit applications"),
    "application.view": _rule(
        {"supervisor", "operator", "applicant", "partner"},
        "only the applicant bank, its named tech partner, supervisors and operators see an application",
    ),
    "application.update": _rule({"applicant"}, "only the applicant bank changes its application"),
    "application.withdraw": _rule({"applicant"}, "only the applicant bank withdraws its application"),
    "application.assess": _rule({"supervisor"}, "only supervisors assess applications"),
    "application.decide": _rule({"supervisor"}, "only supervisors admit or decline applications"),
    "assessment.view": _rule({"supervisor"}, "only supervisors see individual assessments"),
    "workspace.manage": _rule(
        {"owner", "operator"}, "only owners of the workspace and operators change its members and endpoints"
    ),
    "workspace.withdraw": _rule({"bank_member"}, "only the bank's members of the workspace withdraw it"),
    "workspace.state": _rule({"supervisor"}, "only supervisors move a use case through its lifecycle"),
    "key.view": _rule({"supervisor", "operator", "member"}, "only workspace members see its keys"),
    "ledger.view": _rule(
        {"supervisor", "operator", "member"},
        "only supervisors, operators and members of the entry's workspace see ledger entries",
    ),
}
ACTIONS = tuple(RULES)
OPEN_ONLY = frozenset(
    {
        "key.manage",
        "policy.edit",
        "playground.use",
        "dataset.upload",
        "dataset.delete",
        "trial.launch",
        "finetune.run",
        "job.submit",
        "job.resume",
        "workspace.manage",
        "scorecard.build",
        "review.respond",
    }
)
"""Actions that create or change work inside a workspace: refused once its use case is closed."""
# Workspace roles that may change a workspace (keys, policy, trials), not only look at it.
EDITOR_ROLES = ("owner", "developer")

_DOING = {
    "key.manage": "manage keys",
    "policy.edit": "change its guard policy",
    "playground.use": "use the playground",
    "dataset.upload": "take new datasets",
    "dataset.delete": "delete datasets",
    "trial.launch": "launch trials",
    "finetune.run": "fine-tune models",
    "job.submit": "take new jobs",
    "job.resume": "resume jobs",
    "workspace.manage": "change its members or endpoints",
    "scorecard.build": "build scorecards",
    "review.respond": "respond to reviews",
}

Resource = Any
"""The programme (None), a Cohort, a Workspace, an Application or Assessment, or anything that lives in a
workspace and has a `workspace_id` (a key, an endpoint, a trial, a scorecard, a review, a ledger entry)."""


_MISSING = object()


@dataclass(frozen=True)
class _Scope:
    """Where a resource lives: the workspace that owns it and the application it belongs to, if any."""

    workspace: Workspace | None = None
    application: Application | None = None
    private: bool = False  # lives inside a workspace or an application, so hidden from outsiders


def _scope(session: Session, resource: Resource) -> _Scope:
    if resource is None or isinstance(resource, Cohort):
        return _Scope()
    if isinstance(resource, Workspace):
        return _Scope(workspace=resource, private=True)
    if isinstance(resource, Assessment):
        resource = resource.application
    if isinstance(resource, Application):
        return _Scope(application=resource, private=True)
    ws_id = getattr(resource, "workspace_id", _MISSING)
    if ws_id is _MISSING:
        raise ValueError(f"authorize does not know how to scope a {type(resource).__name__}")
    # A ledger entry without a workspace is programme business (institutions, applications, cohorts):
    # private to the regulator and the operator.
    return _Scope(workspace=session.get(Workspace, ws_id) if ws_id else None, private=True)


def relations(session: Session, user: User, resource: Resource) -> set[str]:
    """The roles `user` holds towards `resource`.

    supervisor, operator: by programme role. participant (+ bank or tech_partner): any signed-in
    participant. member, editor (owner or developer), owner, bank_member (a member from the owning bank):
    by workspace membership. applicant (the applying bank's users), partner (the named tech partner's).
    """
    out: set[str] = set()
    if user.role == "supervisor":
        return {"supervisor"}
    if user.role == "operator":
        return {"operator"}
    out.add("participant")
    kind = user.institution.kind
    if kind in ("bank", "tech_partner"):
        out.add(kind)
    scope = _scope(session, resource)
    if scope.workspace is not None:
        ws = scope.workspace
        role = session.scalars(
            select(Membership.role).where(Membership.workspace_id == ws.id, Membership.user_id == user.id)
        ).first()
        if role is not None:
            out.add("member")
            if role in EDITOR_ROLES:
                out.add("editor")
            if role == "owner":
                out.add("owner")
            if user.institution_id == ws.bank_id:
                out.add("bank_member")
    if scope.application is not None:
        app = scope.application
        if user.institution_id == app.bank_id:
            out.add("applicant")
        if app.tech_partner_id is not None and user.institution_id == app.tech_partner_id:
            out.add("partner")
    return out


def can_see(session: Session, user: User, resource: Resource) -> bool:
    """Whether the resource's existence may be revealed to the user."""
    if user.role in ("supervisor", "operator"):
        return True  # the regulator and the operator see the whole programme
    scope = _scope(session, resource)
    if not scope.private:
        return True  # the programme and its cohorts are no secret
    have = relations(session, user, resource)
    if scope.application is not None:
        return bool(have & {"applicant", "partner"})
    return "member" in have


def _subject(resource: Resource) -> str:
    """How a not-found message names what was asked for, without naming the workspace it lives in."""
    if isinstance(resource, Workspace):
        return f"workspace {resource.slug!r}"
    if isinstance(resource, Application):
        return f"application {resource.id!r}"
    if isinstance(resource, Assessment):
        return f"application {resource.application_id!r}"
    if isinstance(resource, LedgerEntry):
        return f"ledger entry {resource.seq}"
    for attr, name in (("prefix", "key"), ("slug", "workspace")):
        if isinstance(getattr(resource, attr, None), str):
            return f"{name} {getattr(resource, attr)!r}"
    ident = getattr(resource, "id", None)
    return f"{type(resource).__name__.lower()} {ident!r}" if ident else "such object"


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
        if action in OPEN_ONLY:
            scope = _scope(session, resource)
            if scope.workspace is not None and is_closed(scope.workspace.status):
                raise closed_error(scope.workspace.slug, scope.workspace.status, _DOING[action])
        return
    if not can_see(session, user, resource):
        raise NotFound(f"no {subject or _subject(resource)}")
    raise PermissionDenied(f"{rule.refusal} ({user.email} has the role {user.role})")


def allowed(user: User, action: str, resource: Resource = None) -> bool:
    """True when `authorize` would pass (for showing or hiding a button or a command)."""
    try:
        authorize(user, action, resource)
    except (NotFound, PermissionDenied, AuthenticationFailed):
        return False
    return True
