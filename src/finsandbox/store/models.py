"""ORM models: every table the sandbox keeps, in one place so a newcomer sees the whole schema.

Identifiers of user-visible objects are random hex strings, so guessing a URL reveals nothing;
the ledger alone uses a dense integer sequence, because gaps in it are evidence of tampering.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A random, unguessable identifier."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns timezone-aware values, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Institution(Base):
    """A bank, a tech partner, the supervisor or the operator."""

    __tablename__ = "institutions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="institution")


class User(Base):
    """A person who signs in; `role` is programme-wide (participant, supervisor, operator)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    institution: Mapped[Institution] = relationship(back_populates="users")


class Workspace(Base):
    """The isolated environment of one use case, owned by a bank."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(40))
    bank_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    status: Mapped[str] = mapped_column(String(20), default="admitted")
    # The workspace's guard policy as YAML; None means the packaged default policy.
    guard_policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The cohort (intake) the use case belongs to; None for workspaces created outside one.
    cohort_id: Mapped[str | None] = mapped_column(ForeignKey("cohorts.id"), nullable=True, index=True)

    bank: Mapped[Institution] = relationship()
    members: Mapped[list[Membership]] = relationship(back_populates="workspace")
    endpoints: Mapped[list[Endpoint]] = relationship(back_populates="workspace")


class Membership(Base):
    """A user's role in one workspace (owner, developer, viewer)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Endpoint(Base):
    """A named model route in a workspace, bound to a backend with its settings."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    backend: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Customer-facing endpoints must disclose AI use; the canary detects system-prompt leaks.
    customer_facing: Mapped[bool] = mapped_column(Boolean, default=False)
    canary: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="endpoints")


class ApiKey(Base):
    """A virtual key: bound to one workspace, stored as a hash, shown once, with quotas."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_budget: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)

    workspace: Mapped[Workspace] = relationship()


class QuotaWindow(Base):
    """Per-key counters for one minute; shared by every server process through the database."""

    __tablename__ = "quota_windows"

    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)


class UsageRecord(Base):
    """One metered gateway call."""

    __tablename__ = "usage_records"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(100))
    backend: Mapped[str] = mapped_column(String(20))
    trial_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    case_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A trial's own calls: the call's number within its case in this run (1, 2, ...). A resumed
    # run's call whose number an earlier run of the trial already reached repeats that call (the
    # one in flight at a crash): `replay_of` is the first one's ledger seq and it is metered at 0.
    call_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replay_of: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LedgerEntry(Base):
    """One link of the hash chain; see ledger/chain.py for how the hashes are computed."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(254))
    workspace_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    payload: Mapped[str] = mapped_column(Text)
    payload_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class Trial(Base):
    """One run of suites against a target, on behalf of a workspace."""

    __tablename__ = "trials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The target (endpoint, external URL), the suites as loaded (with digests) and run settings.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    total_cases: Mapped[int] = mapped_column(Integer, default=0)
    done_cases: Mapped[int] = mapped_column(Integer, default=0)
    score_version: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    workspace: Mapped[Workspace] = relationship()


class CaseResult(Base):
    """One case of a trial: what went in, what came out, its scores and its evidence.

    Written as soon as the case finishes; the unique (trial, item) pair is what lets a killed
    trial resume without repeating, or double-counting, a finished case.
    """

    __tablename__ = "case_results"
    __table_args__ = (UniqueConstraint("trial_id", "item"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"), index=True)
    item: Mapped[str] = mapped_column(String(400))
    suite: Mapped[str] = mapped_column(String(100))
    recipe: Mapped[str] = mapped_column(String(100), index=True)
    case_id: Mapped[str] = mapped_column(String(300))
    attack: Mapped[str | None] = mapped_column(String(60), nullable=True)
    case: Mapped[dict[str, Any]] = mapped_column(JSON)
    output: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- supervision --------------------------------------------------------------------------------


class Cohort(Base):
    """A time-boxed intake; insights aggregate over its workspaces and never show a small group."""

    __tablename__ = "cohorts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Insights show no figure for a group of fewer institutions than this.
    min_group_size: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserToken(Base):
    """A personal API token: shown once, stored as SHA-256 with a visible prefix, revocable."""

    __tablename__ = "user_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the token may do ("read", "write"); None (tokens issued before scopes) means both.
    scopes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    user: Mapped[User] = relationship()


class Scorecard(Base):
    """One version of a trial's scorecard; a new version is written, never an old one changed."""

    __tablename__ = "scorecards"
    __table_args__ = (UniqueConstraint("trial_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    trial_id: Mapped[str] = mapped_column(ForeignKey("trials.id"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    framework_name: Mapped[str] = mapped_column(String(100))
    framework_digest: Mapped[str] = mapped_column(String(64))
    score_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    trial: Mapped[Trial] = relationship()
    workspace: Mapped[Workspace] = relationship()


class Review(Base):
    """A supervisor's assessment of one scorecard version; `status` follows the latest decision."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scorecard_id: Mapped[str] = mapped_column(ForeignKey("scorecards.id"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    opened_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30), default="open")
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scorecard: Mapped[Scorecard] = relationship()
    workspace: Mapped[Workspace] = relationship()
    opener: Mapped[User] = relationship(foreign_keys=[opened_by])
    findings: Mapped[list[Finding]] = relationship(back_populates="review", order_by="Finding.number")
    actions: Mapped[list[RequiredAction]] = relationship(
        back_populates="review", order_by="RequiredAction.number"
    )
    events: Mapped[list[ReviewEvent]] = relationship(
        back_populates="review", order_by="ReviewEvent.ledger_seq"
    )


class Finding(Base):
    """What a supervisor found, with links to the case results and ledger entries that show it."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("review_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(20))
    principle: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    case_result_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    ledger_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    review: Mapped[Review] = relationship(back_populates="findings")
    author: Mapped[User] = relationship()


class RequiredAction(Base):
    """Something the participant must do by a date, optionally answering one finding."""

    __tablename__ = "required_actions"
    __table_args__ = (UniqueConstraint("review_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    finding_id: Mapped[str | None] = mapped_column(ForeignKey("findings.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    review: Mapped[Review] = relationship(back_populates="actions")
    author: Mapped[User] = relationship()


class ReviewEvent(Base):
    """One line of a review's thread: who did or said what, when, and its ledger entry."""

    __tablename__ = "review_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    finding_id: Mapped[str | None] = mapped_column(ForeignKey("findings.id"), nullable=True)
    action_id: Mapped[str | None] = mapped_column(ForeignKey("required_actions.id"), nullable=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    review: Mapped[Review] = relationship(back_populates="events")
    author: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One web login attempt, kept to throttle guessing per email and address."""

    __tablename__ = "login_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# --- programme lifecycle ------------------------------------------------------------------------


class Application(Base):
    """A bank's use-case proposal to a cohort, optionally with a tech partner; `status` is its lifecycle
    state, kept equal to the workspace's once admitted so every list shows one word for where it stands."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id"), index=True)
    bank_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    tech_partner_id: Mapped[str | None] = mapped_column(
        ForeignKey("institutions.id"), nullable=True, index=True
    )
    submitted_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    approach: Mapped[str] = mapped_column(String(20))
    data_used: Mapped[str] = mapped_column(Text)
    expected_benefit: Mapped[str] = mapped_column(Text)
    risk_materiality: Mapped[str] = mapped_column(String(10))
    risk_notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="proposed", index=True)
    decision_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why a supervisor admitted with fewer assessments than the rubric asks for; None when not forced.
    forced_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    workspace_id: Mapped[str | None] = mapped_column(ForeignKey("workspaces.id"), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cohort: Mapped[Cohort] = relationship()
    bank: Mapped[Institution] = relationship(foreign_keys=[bank_id])
    tech_partner: Mapped[Institution | None] = relationship(foreign_keys=[tech_partner_id])
    submitter: Mapped[User] = relationship(foreign_keys=[submitted_by])
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by])
    workspace: Mapped[Workspace | None] = relationship()
    members: Mapped[list[ApplicationMember]] = relationship(
        back_populates="application", order_by="ApplicationMember.created_at"
    )
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="application", order_by="Assessment.created_at"
    )


class ApplicationMember(Base):
    """A person the application names for the use case's team; admission makes them workspace members."""

    __tablename__ = "application_members"
    __table_args__ = (UniqueConstraint("application_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Assessment(Base):
    """One assessor's rubric scores for one application; re-submitting replaces them."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("application_id", "assessor_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    assessor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    rubric: Mapped[str] = mapped_column(String(100))
    rubric_digest: Mapped[str] = mapped_column(String(64))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    weighted: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="assessments")
    assessor: Mapped[User] = relationship()


# --- datasets -----------------------------------------------------------------------------------


class Dataset(Base):
    """A CSV or JSONL file a workspace uploaded, validated and kept as rows of JSON; `is_case_set` says
    every row is an evaluation case (id, input, expected), so a recipe can later use it as its dataset."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(10))
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    is_case_set: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship()


# --- jobs on the shared compute pool -------------------------------------------------------------


class Job(Base):
    """Long work on the programme's compute pool for one workspace (a batch trial, batch inference, a
    fine-tune): queued, claimed by a runner (heartbeat), cancellable, resumable from its checkpoint, and
    charged for what it used. `runner` names the process that holds it; a stale heartbeat means it died."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    estimate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str] = mapped_column(String(300), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    resume_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    runner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship()


class ComputeAllocation(Base):
    """What a workspace's jobs may use in all, set by the operator; None for a resource means no limit."""

    __tablename__ = "compute_allocations"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    gpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    set_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship()
