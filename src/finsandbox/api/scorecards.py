"""Scorecards: list, build (new version only on change), read a version, compare two trials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from finsandbox.api.deps import Reader, Writer
from finsandbox.api.schemas import ComparisonOut, ScorecardOut, ScorecardSummary
from finsandbox.store.models import Scorecard
from finsandbox.supervision import scorecards as sc

router = APIRouter(tags=["scorecards"])


def summary(card: Scorecard) -> dict[str, object]:
    return {
        "id": card.id,
        "trial_id": card.trial_id,
        "workspace": card.workspace.slug,
        "version": card.version,
        "framework_name": card.framework_name,
        "framework_digest": card.framework_digest,
        "score_version": card.score_version,
        "overall_pass_rate": card.data["overall"]["pass_rate"],
        "overall_grade": card.data["overall"]["grade"],
        "created_by": card.created_by,
        "created_at": card.created_at,
    }


def full(card: Scorecard, created: bool | None = None) -> ScorecardOut:
    return ScorecardOut(**summary(card), created=created, data=card.data)  # type: ignore[arg-type]


@router.get(
    "/trials/{trial_id}/scorecards", response_model=list[ScorecardSummary], summary="Scorecard versions"
)
def list_versions(trial_id: str, caller: Reader) -> list[dict[str, object]]:
    return [summary(c) for c in sc.list_scorecards(caller.session, trial_id, user=caller.user)]


@router.post(
    "/trials/{trial_id}/scorecards", response_model=ScorecardOut, summary="Build the current scorecard"
)
def build(trial_id: str, caller: Writer) -> ScorecardOut:
    """A new version when the trial was rescored or the framework changed; else the latest version."""
    card, created = sc.build_scorecard(caller.session, trial_id, actor=caller.actor, user=caller.user)
    return full(card, created)


@router.get("/trials/{trial_id}/scorecards/{version}", response_model=ScorecardOut, summary="One version")
def read_version(
    trial_id: str, version: Annotated[int, Path(ge=1, le=2_147_483_647)], caller: Reader
) -> ScorecardOut:
    return full(sc.scorecard_version(caller.session, trial_id, version, user=caller.user))


@router.get("/scorecards/compare", response_model=ComparisonOut, summary="Compare two trials")
def compare(
    caller: Writer,
    before: str = Query(description="the earlier trial id"),
    after: str = Query(description="the later trial id, of the same use case"),
) -> dict[str, object]:
    """What got better or worse, with Fisher's exact test deciding what is beyond noise."""
    return sc.compare_trials(caller.session, before, after, user=caller.user, actor=caller.actor)


@router.get("/scorecards/{scorecard_id}", response_model=ScorecardOut, summary="A scorecard by id")
def read(scorecard_id: str, caller: Reader) -> ScorecardOut:
    return full(sc.get_scorecard(caller.session, scorecard_id, user=caller.user))
