"""What follows a finished trial: its scorecard is built then, not when someone first opens a page.

Edges that run trials (web, JSON API, CLI) pass `scorecard_on_completion` as the runner's callback, so
grades exist as soon as a trial completes and viewing a scorecard never writes to the ledger.
"""

from __future__ import annotations

from finsandbox.store import session_scope
from finsandbox.store.models import Scorecard, Trial

RUNNER = "system:trial-runner"


def scorecard_on_completion(trial_id: str) -> Scorecard | None:
    """Build the trial's scorecard if it completed (a new version only when something changed)."""
    from finsandbox.supervision.scorecards import build_scorecard

    with session_scope(write=True) as session:
        trial = session.get(Trial, trial_id)
        if trial is None or trial.status != "completed":
            return None
        card, _created = build_scorecard(session, trial.id, actor=RUNNER)
        return card


def scorecard_for_job(trial_id: str) -> dict[str, str | int] | None:
    """For a job that ran a trial: build its scorecard and say which (added to the job's result)."""
    card = scorecard_on_completion(trial_id)
    return None if card is None else {"scorecard_id": card.id, "scorecard_version": card.version}
