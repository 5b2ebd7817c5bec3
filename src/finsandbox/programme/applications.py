"""Applications: a bank proposes a use case to an open cohort, supervisors score it on the rubric, and
admission turns it into a workspace with its team and an endpoint; a decline says why.

Every function takes the acting user and asks `authorize` first, so the CLI, the API and the web pages
get the same answers. Bad input raises InvalidRequest naming the field (`param`), with every problem
of a form in `extra["fields"]`, so a form can show each message beside its field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.access.roles import THEMES
from finsandbox.errors import Conflict, InvalidRequest, NotFound
from finsandbox.programme import lifecycle
from finsandbox.programme.cohorts import get_cohort
from finsandbox.programme.rubric import Aggregate, LoadedRubric, aggregate, load_rubric, validate_scores
from finsandbox.programme.workspaces import add_endpoint, add_member, create_workspace, unique_slug
from finsandbox.store.models import (
    Application,
    ApplicationMember,
    Assessment,
    Cohort,
    Institution,
    User,
    Workspace,
    utcnow,
)

APPROACHES = ("rag", "fine_tuning", "prompting", "agent")
APPROACH_LABELS = {"rag": "RAG", "fine_tuning": "fine-tuning", "prompting": "prompting", "agent": "agent"}
RISK_LEVELS = ("low", "medium", "high")
MAX_TEXT = 10_000
DEFAULT_ENDPOINT = "smollm2"
"""The endpoint admission creates on the embedded model, so a new workspace can run a trial at once."""

FIELDS = (
    "title",
    "theme",
    "description",
    "approach",
    "data_used",
    "expected_benefit",
    "risk_materiality",
    "risk_notes",
)
"""The fields of an application a bank writes (and may change while it is proposed)."""


def _actor(user: User) -> str:
    return f"user:{user.email}"


class _Problems:
    """Collects field errors so a form learns of all of them at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, message)

    def raise_if_any(self) -> None:
        if not self.fields:
            return
        field, message = next(iter(self.fields.items()))
        exc = InvalidRequest(message, param=field)
        exc.extra = {"fields": dict(self.fields)}
        raise exc


def _clean(values: Mapping[str, Any], cohort: Cohort, problems: _Problems) -> dict[str, str]:
    """Validated, stripped application fields; problems are recorded, not raised."""
    out: dict[str, str] = {}
    for name in FIELDS:
        raw = values.get(name)
        out[name] = raw.strip() if isinstance(raw, str) else ("" if raw is None else str(raw))
    title = out["title"]
    if len(title) < 3:
        problems.add("title", "give the use case a title of at least 3 characters")
    elif len(title) > 200:
        problems.add("title", f"the title has {len(title)} characters; keep it to 200")
    if out["theme"] not in THEMES:
        problems.add("theme", f"choose a theme: {', '.join(THEMES)}")
    elif cohort.themes and out["theme"] not in cohort.themes:
        problems.add(
            "theme", f"cohort {cohort.name} takes {', '.join(cohort.themes)} use cases, not {out['theme']}"
        )
    out["approach"] = out["approach"].lower().replace("-", "_").replace(" ", "_")
    if out["approach"] not in APPROACHES:
        problems.add("approach", f"choose an approach: {', '.join(APPROACH_LABELS.values())}")
    out["risk_materiality"] = out["risk_materiality"].lower()
    if out["risk_materiality"] not in RISK_LEVELS:
        problems.add("risk_materiality", f"assess the risk materiality as {', '.join(RISK_LEVELS)}")
    for name, what in (
        ("description", "describe the use case"),
        ("data_used", "say what data the use case uses"),
        ("expected_benefit", "say what benefit you expect"),
    ):
        if not out[name]:
            problems.add(name, what)
    for name in ("description", "data_used", "expected_benefit", "risk_notes"):
        if len(out[name]) > MAX_TEXT:
            problems.add(
                name, f"{name.replace('_', ' ')} has {len(out[name])} characters; keep it to {MAX_TEXT}"
            )
    return out


def _institution(session: Session, ref: str) -> Institution | None:
    return session.scalars(select(Institution).where(Institution.name == ref)).first() or session.get(
        Institution, ref
    )


def _team(
    session: Session,
    submitter: User,
    partner: Institution | None,
    emails: Sequence[str],
    problems: _Problems,
) -> list[tuple[User, str]]:
    """(user, workspace role) for the submitter (owner) and each named bank or tech-partner user."""
    team: list[tuple[User, str]] = [(submitter, "owner")]
    allowed = {submitter.institution_id} | ({partner.id} if partner else set())
    for raw in emails:
        email = raw.strip().lower()
        if not email or email == submitter.email:
            continue
        member = session.scalars(select(User).where(User.email == email)).first()
        if member is None or member.institution_id not in allowed or member.role != "participant":
            # The same words whether the person does not exist or works elsewhere: no probing for users.
            problems.add(
                "members",
                f"{email} is not a user of {submitter.institution.name}"
                + (f" or {partner.name}" if partner else ""),
            )
            continue
        if any(u.id == member.id for u, _ in team):
            continue
        team.append((member, "developer"))
    return team


def _partner(session: Session, ref: str | None, problems: _Problems) -> Institution | None:
    if not ref or not ref.strip():
        return None
    inst = _institution(session, ref.strip())
    if inst is None or inst.kind != "tech_partner":
        problems.add("tech_partner", f"{ref.strip()!r} is not a registered tech partner")
        return None
    return inst


def submit_application(
    session: Session,
    user: User,
    *,
    cohort: str,
    title: str,
    theme: str,
    description: str,
    approach: str,
    data_used: str,
    expected_benefit: str,
    risk_materiality: str,
    risk_notes: str = "",
    tech_partner: str | None = None,
    members: Sequence[str] = (),
) -> Application:
    """A bank user proposes a use case to an open cohort; they become its owner, `members` its team.

    `cohort` and `tech_partner` are names (or ids); `members` are emails of users of the bank or of
    the tech partner.
    """
    target = get_cohort(session, cohort, user=user)
    authorize(user, "application.submit", target)
    if target.status != "open":
        raise Conflict(
            f"cohort {target.name} is {target.status}; it takes applications only while open", param="cohort"
        )
    problems = _Problems()
    values = _clean(
        {
            "title": title,
            "theme": theme,
            "description": description,
            "approach": approach,
            "data_used": data_used,
            "expected_benefit": expected_benefit,
            "risk_materiality": risk_materiality,
            "risk_notes": risk_notes,
        },
        target,
        problems,
    )
    partner = _partner(session, tech_partner, problems)
    team = _team(session, user, partner, members, problems)
    problems.raise_if_any()
    application = Application(
        cohort_id=target.id,
        bank_id=user.institution_id,
        tech_partner_id=partner.id if partner else None,
        submitted_by=user.id,
        status="proposed",
        **values,
    )
    session.add(application)
    session.flush()
    for member, role in team:
        session.add(ApplicationMember(application_id=application.id, user_id=member.id, role=role))
    session.flush()
    ledger.append(
        session,
        actor=_actor(user),
        kind="application.submitted",
        payload={
            "application_id": application.id,
            "cohort_id": target.id,
            "bank_id": application.bank_id,
            "tech_partner_id": application.tech_partner_id,
            "title": application.title,
            "theme": application.theme,
            "approach": application.approach,
            "risk_materiality": application.risk_materiality,
            "members": [m.id for m, _ in team],
            "content_digest": ledger.sha256_hex(
                "\n".join(values[k] for k in ("description", "data_used", "expected_benefit", "risk_notes"))
            ),
        },
    )
    session.refresh(application)
    return application


def update_application(
    session: Session,
    user: User,
    application_id: str,
    *,
    tech_partner: str | None = None,
    members: Sequence[str] | None = None,
    **changes: Any,
) -> Application:
    """The applicant bank changes its application while it is still proposed (before assessment)."""
    application = get_application(session, application_id, user=user)
    authorize(user, "application.update", application)
    if application.status != "proposed":
        raise Conflict(
            f"application {application.title!r} is {lifecycle.label(application.status)}; "
            "it can be changed only while proposed"
        )
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"an application has no field {unknown[0]!r}", param=unknown[0])
    problems = _Problems()
    current = {name: getattr(application, name) for name in FIELDS}
    values = _clean({**current, **changes}, application.cohort, problems)
    partner = application.tech_partner
    if tech_partner is not None:
        partner = _partner(session, tech_partner, problems) if tech_partner.strip() else None
    team = None
    if members is not None or tech_partner is not None:
        emails = (
            members
            if members is not None
            else [m.user.email for m in application.members if m.user_id != application.submitted_by]
        )
        team = _team(session, application.submitter, partner, emails, problems)
    problems.raise_if_any()
    changed = sorted(k for k in FIELDS if values[k] != current[k])
    for name in changed:
        setattr(application, name, values[name])
    if tech_partner is not None:
        application.tech_partner_id = partner.id if partner else None
        changed.append("tech_partner")
    if team is not None:
        for m in list(application.members):
            session.delete(m)
        session.flush()
        for member, role in team:
            session.add(ApplicationMember(application_id=application.id, user_id=member.id, role=role))
        changed.append("members")
    application.updated_at = utcnow()
    session.flush()
    ledger.append(
        session,
        actor=_actor(user),
        kind="application.updated",
        payload={"application_id": application.id, "changed": changed},
    )
    session.refresh(application)
    return application


def get_application(session: Session, application_id: str, *, user: User | None = None) -> Application:
    """An application by id (or a unique prefix of at least 6 characters), if the user may see it."""
    application = session.get(Application, application_id)
    if application is None and len(application_id) >= 6:
        matches = list(
            session.scalars(select(Application).where(Application.id.startswith(application_id)).limit(2))
        )
        application = matches[0] if len(matches) == 1 else None
    if application is None:
        raise NotFound(f"no application {application_id!r}")
    if user is not None:
        authorize(user, "application.view", application, subject=f"application {application_id!r}")
    return application


def list_applications(
    session: Session,
    *,
    user: User | None = None,
    cohort: str | None = None,
    status: str | None = None,
) -> list[Application]:
    """Applications the user may see (their bank's, or those naming their firm as tech partner; all for
    supervisors and operators), newest first."""
    query = select(Application).order_by(Application.created_at.desc())
    if cohort is not None:
        query = query.where(Application.cohort_id == get_cohort(session, cohort, user=user).id)
    if status is not None:
        if status not in lifecycle.STATES:
            raise InvalidRequest(
                f"unknown state {status!r}; use one of {', '.join(lifecycle.STATES)}", param="status"
            )
        query = query.where(Application.status == status)
    if user is not None:
        authorize(user, "cohort.view")  # any signed-in, active person
        if user.role == "participant":
            query = query.where(
                or_(
                    Application.bank_id == user.institution_id,
                    Application.tech_partner_id == user.institution_id,
                )
            )
    return list(session.scalars(query))


def start_assessment(session: Session, user: User, application_id: str) -> Application:
    """A supervisor takes a proposed application into assessment (the bank can no longer change it)."""
    application = get_application(session, application_id, user=user)
    authorize(user, "application.assess", application)
    lifecycle.move(session, to="under_assessment", actor=_actor(user), application=application)
    return application


def assess(
    session: Session,
    user: User,
    application_id: str,
    *,
    scores: Mapping[str, Any],
    comment: str = "",
    rubric: LoadedRubric | None = None,
) -> Assessment:
    """Record this supervisor's rubric scores; submitting again replaces their earlier ones.

    A proposed application moves into assessment with its first scores; once decided it takes none.
    """
    application = get_application(session, application_id, user=user)
    authorize(user, "application.assess", application)
    loaded = rubric or load_rubric()
    if application.status == "proposed":
        lifecycle.move(session, to="under_assessment", actor=_actor(user), application=application)
    elif application.status != "under_assessment":
        raise Conflict(
            f"application {application.title!r} is {lifecycle.label(application.status)}; "
            "assessments are taken only while it is proposed or under assessment"
        )
    clean = validate_scores(loaded.rubric, scores)
    comment = (comment or "").strip()
    if len(comment) > MAX_TEXT:
        raise InvalidRequest(
            f"the comment has {len(comment)} characters; keep it to {MAX_TEXT}", param="comment"
        )
    existing = session.scalars(
        select(Assessment).where(
            Assessment.application_id == application.id, Assessment.assessor_id == user.id
        )
    ).first()
    weighted = round(loaded.rubric.weighted(clean), 4)
    now = datetime.now(UTC)
    if existing is None:
        existing = Assessment(
            application_id=application.id,
            assessor_id=user.id,
            created_at=now,
            rubric=loaded.name,
            rubric_digest=loaded.digest,
            scores=clean,
            weighted=weighted,
            comment=comment,
        )
        session.add(existing)
        revised = False
    else:
        existing.rubric, existing.rubric_digest = loaded.name, loaded.digest
        existing.scores, existing.weighted, existing.comment = clean, weighted, comment
        revised = True
    existing.updated_at = now
    session.flush()
    ledger.append(
        session,
        actor=_actor(user),
        kind="application.assessed",
        payload={
            "application_id": application.id,
            "assessor_id": user.id,
            "rubric": loaded.name,
            "rubric_digest": loaded.digest,
            "scores": clean,
            "weighted": weighted,
            "revised": revised,
            "comment_digest": ledger.sha256_hex(comment),
        },
    )
    session.refresh(application)
    return existing


def assessment_summary(
    session: Session, user: User | None, application_id: str, *, rubric: LoadedRubric | None = None
) -> Aggregate:
    """The aggregate of all assessors' scores: overall, per criterion (mean, spread), per assessor."""
    application = get_application(session, application_id, user=user)
    if user is not None:
        authorize(user, "assessment.view", application)
    return aggregate(rubric or load_rubric(), list(application.assessments))


def admit(
    session: Session,
    user: User,
    application_id: str,
    *,
    force_reason: str | None = None,
    slug: str | None = None,
    endpoint: bool = True,
    rubric: LoadedRubric | None = None,
) -> Workspace:
    """Admit an assessed application: create its workspace in the cohort, with the named team as
    members and (by default) an endpoint on the embedded model, in one transaction.

    Needs the rubric's minimum number of assessments unless `force_reason` says why not.
    """
    application = get_application(session, application_id, user=user)
    authorize(user, "application.decide", application)
    lifecycle.check(application.status, "admitted", f"application {application.title!r}")
    summary = aggregate(rubric or load_rubric(), list(application.assessments))
    force_reason = (force_reason or "").strip() or None
    if not summary.enough and force_reason is None:
        raise Conflict(
            f"application {application.title!r} has {summary.assessors} of the {summary.min_assessments} "
            "assessments the rubric asks for; wait for more assessors or give a reason to admit it anyway",
            param="force_reason",
        )
    ws = create_workspace(
        session,
        slug=slug or unique_slug(session, application.title),
        name=application.title,
        theme=application.theme,
        bank=application.bank,
        actor=_actor(user),
    )
    ws.cohort_id = application.cohort_id
    session.flush()
    for m in application.members:
        add_member(session, ws, m.user, role=m.role, actor=_actor(user))
    if endpoint:
        add_endpoint(
            session,
            ws,
            name=DEFAULT_ENDPOINT,
            backend="llamacpp",
            config={},
            actor=_actor(user),
            customer_facing=application.theme == "customer_service",
        )
    previous = application.status
    application.status = "admitted"
    application.workspace_id = ws.id
    application.decided_by = user.id
    application.decided_at = datetime.now(UTC)
    application.forced_reason = force_reason if not summary.enough else None
    application.updated_at = utcnow()
    session.flush()
    ledger.append(
        session,
        actor=_actor(user),
        kind="application.admitted",
        workspace_id=ws.id,
        payload={
            "application_id": application.id,
            "from": previous,
            "to": "admitted",
            "workspace_id": ws.id,
            "slug": ws.slug,
            "cohort_id": application.cohort_id,
            "assessments": summary.assessors,
            "overall": summary.overall,
            "forced": application.forced_reason is not None,
            "forced_reason_digest": ledger.sha256_hex(force_reason) if application.forced_reason else None,
        },
    )
    session.refresh(application)
    return ws


def decline(session: Session, user: User, application_id: str, *, reasons: str) -> Application:
    """Decline with reasons the bank will read; the decision is final."""
    application = get_application(session, application_id, user=user)
    authorize(user, "application.decide", application)
    reasons = (reasons or "").strip()
    if not reasons:
        raise InvalidRequest("say why the application is declined; the bank will read it", param="reasons")
    if len(reasons) > MAX_TEXT:
        raise InvalidRequest(
            f"the reasons have {len(reasons)} characters; keep them to {MAX_TEXT}", param="reasons"
        )
    lifecycle.move(
        session,
        to="declined",
        actor=_actor(user),
        application=application,
        payload={"reasons_digest": ledger.sha256_hex(reasons)},
    )
    application.decision_reasons = reasons
    application.decided_by = user.id
    application.decided_at = datetime.now(UTC)
    session.flush()
    return application


def withdraw(session: Session, user: User, application_id: str, *, reason: str = "") -> Application:
    """The applicant bank withdraws; an admitted use case's workspace is withdrawn with it."""
    application = get_application(session, application_id, user=user)
    authorize(user, "application.withdraw", application)
    reason = (reason or "").strip()
    lifecycle.move(
        session,
        to="withdrawn",
        actor=_actor(user),
        application=application,
        payload={"reason_digest": ledger.sha256_hex(reason)} if reason else None,
    )
    if reason:
        application.decision_reasons = reason
    session.flush()
    return application


def application_as_dict(
    session: Session, application: Application, *, user: User | None = None
) -> dict[str, Any]:
    """Plain data of an application; assessments (scores, spread) only for those who may see them."""
    from finsandbox.access.authz import allowed

    state = lifecycle.state_of(application)
    out: dict[str, Any] = {
        "id": application.id,
        "cohort": application.cohort.name,
        "cohort_id": application.cohort_id,
        "bank": application.bank.name,
        "tech_partner": application.tech_partner.name if application.tech_partner else None,
        "submitted_by": application.submitter.email,
        "state": state,
        "state_label": lifecycle.label(state),
        "next_states": lifecycle.next_states(state),
        **{name: getattr(application, name) for name in FIELDS},
        "approach_label": APPROACH_LABELS.get(application.approach, application.approach),
        "members": [{"email": m.user.email, "role": m.role} for m in application.members],
        "decision_reasons": application.decision_reasons,
        "decided_by": application.decider.email if application.decider else None,
        "decided_at": application.decided_at,
        "forced_reason": application.forced_reason,
        "workspace": application.workspace.slug if application.workspace else None,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
        "assessment": None,
    }
    if user is None or allowed(user, "assessment.view", application):
        out["assessment"] = aggregate(load_rubric(), list(application.assessments)).as_dict()
    return out
