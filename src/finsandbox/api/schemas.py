"""Pydantic models of the JSON API, so every route's shape is in the OpenAPI schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScorecardSummary(BaseModel):
    id: str
    trial_id: str
    workspace: str
    version: int
    framework_name: str
    framework_digest: str
    score_version: int
    overall_pass_rate: float | None
    overall_grade: str | None
    created_by: str
    created_at: datetime


class ScorecardOut(ScorecardSummary):
    created: bool | None = Field(default=None, description="on build: whether a new version was made")
    data: dict[str, Any] = Field(
        description="the scorecard: overall, principles, recipes (rates, Wilson intervals, grades, worst "
        "cases), themes, guards (blocked, redacted, by guard and entity type), practices, framework, trial"
    )


class ChangeOut(BaseModel):
    name: str
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    delta: float | None
    p_value: float | None
    verdict: Literal["better", "worse", "no significant change", "new", "gone", "no data"]


class ComparisonOut(BaseModel):
    before: dict[str, Any]
    after: dict[str, Any]
    significance: float
    test: str
    overall: ChangeOut
    principles: list[ChangeOut]
    recipes: list[ChangeOut]
    better: list[str]
    worse: list[str]
    notes: list[str]


class ReviewOpen(_In):
    scorecard_id: str
    title: str | None = None


Number = Annotated[int, Field(ge=1, le=2_147_483_647)]
"""A finding's or action's number: bounded, so an integer beyond 64 bits is a 400, not a 500."""
Seq = Annotated[int, Field(ge=1, le=9_223_372_036_854_775_807)]


class FindingIn(_In):
    severity: Literal["low", "medium", "high", "critical"]
    principle: str
    text: str
    case_result_ids: list[str] = Field(default_factory=list)
    ledger_seqs: list[Seq] = Field(default_factory=list)


class ActionIn(_In):
    text: str
    due_on: date
    finding: Number | None = Field(default=None, description="the number of the finding it answers")


class ResponseIn(_In):
    text: str
    finding: Number | None = None
    action: Number | None = None


class ResolutionIn(_In):
    note: str
    finding: Number | None = None
    action: Number | None = None


class DecisionIn(_In):
    decision: Literal["accepted", "changes_requested", "suspended"]
    note: str = Field(default="", description="why; required to accept")
    override_reason: str | None = Field(
        default=None,
        description="accept even though findings of high or critical severity or required actions are "
        "open; the reason is recorded in the ledger and those findings and actions are waived",
    )


class FindingOut(BaseModel):
    id: str
    number: int
    severity: str
    principle: str
    text: str
    status: str
    case_result_ids: list[str]
    ledger_seqs: list[int]
    created_by: str
    created_at: str


class ActionOut(BaseModel):
    id: str
    number: int
    finding: int | None
    text: str
    due_on: str
    status: str
    created_by: str
    created_at: str


class ThreadEventOut(BaseModel):
    kind: str
    author: str
    author_role: str
    finding: int | None
    action: int | None
    text: str
    at: str
    ledger_seq: int


class ReviewOut(BaseModel):
    id: str
    title: str
    status: str
    workspace: str
    scorecard: dict[str, Any]
    opened_by: str
    created_at: str
    decision_note: str | None
    decided_at: str | None
    findings: list[FindingOut]
    actions: list[ActionOut]
    thread: list[ThreadEventOut]


class ReviewSummary(BaseModel):
    id: str
    title: str
    status: str
    workspace: str
    scorecard_id: str
    findings: int
    created_at: datetime


class Figure(BaseModel):
    """An aggregate over institutions, or a note that the group was too small to show."""

    suppressed: bool
    reason: str | None = None
    institutions: int | None = None
    use_cases: int | None = None
    mean: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None


class ThemeInsight(BaseModel):
    overall: Figure
    principles: dict[str, Figure]


class FindingKind(BaseModel):
    principle: str
    severity: str
    findings: int
    institutions: int


class InsightsOut(BaseModel):
    cohort: dict[str, Any]
    k: int
    generated_at: str
    framework: dict[str, Any]
    institutions: int | None
    overall: Figure
    themes: dict[str, ThemeInsight]
    principles: dict[str, Figure]
    practices: dict[str, dict[str, Figure]]
    trends: dict[str, Figure]
    findings: list[FindingKind]
    suppressed_groups: int
    note: str


class PublicKeyOut(BaseModel):
    key_id: str
    pem: str
