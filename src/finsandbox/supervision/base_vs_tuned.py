"""Base versus tuned: the same suite on two endpoints of a workspace, then `scorecard compare`.

Both trials share every setting but the endpoint (suite, cases, seed, max_tokens, temperature 0),
so a difference between their scorecards is the models' and, with Fisher's exact test on each
principle's and recipe's pass counts, it is called better or worse only beyond chance (p < 0.05).
The default suite is the held-out part of the synthetic fraud-triage set the demo fine-tunes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from finsandbox.errors import InvalidRequest
from finsandbox.store import session_scope
from finsandbox.store.models import User

ProgressFn = Callable[[str, int, int], None]  # (which: "base" | "tuned", done, total)


def default_suite() -> str:
    """The held-out fraud-triage suite (a file path, as a trial's suite reference)."""
    from finsandbox.usecases.anti_fraud.finetune_data import suite_path

    return str(suite_path())


def create_pair(
    session: Session,
    workspace: str,
    base: str,
    tuned: str,
    *,
    suite: str | None = None,
    actor: str,
    max_cases: int | None = None,
    max_tokens: int = 48,
    concurrency: int = 2,
    gateway_url: str | None = None,
) -> dict[str, str]:
    """The two trials, alike but for the endpoint: {"base": trial id, "tuned": trial id}."""
    from finsandbox.evals.trials import TrialConfig, create_trial

    if base == tuned:
        raise InvalidRequest("base and tuned name the same endpoint; name two endpoints", param="tuned")
    suite_ref = suite or default_suite()
    ids: dict[str, str] = {}
    for which, endpoint in (("base", base), ("tuned", tuned)):
        trial = create_trial(
            session,
            TrialConfig(
                workspace=workspace,
                endpoint=endpoint,
                suites=[suite_ref],
                name=f"{which}: {endpoint}",
                max_cases=max_cases,
                max_variants=0,
                max_tokens=max_tokens,
                temperature=0.0,
                concurrency=concurrency,
                gateway_url=gateway_url,
            ),
            actor=actor,
        )
        ids[which] = trial.id
    return ids


def compare_endpoints(
    workspace: str,
    base: str,
    tuned: str,
    *,
    suite: str | None = None,
    actor: str,
    user_email: str | None = None,
    max_cases: int | None = None,
    max_tokens: int = 48,
    concurrency: int = 2,
    gateway_url: str | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run `suite` on `base` and on `tuned`, build both scorecards and compare them."""
    from finsandbox.access import get_user
    from finsandbox.evals.trials import run_trial
    from finsandbox.supervision.scorecards import compare_trials

    with session_scope(write=True) as s:
        trial_ids = create_pair(
            s,
            workspace,
            base,
            tuned,
            suite=suite,
            actor=actor,
            max_cases=max_cases,
            max_tokens=max_tokens,
            concurrency=concurrency,
            gateway_url=gateway_url,
        )
    for which, trial_id in trial_ids.items():

        def progress(done: int, total: int, _result: Any, which: str = which) -> None:
            if on_progress is not None:
                on_progress(which, done, total)

        finished = asyncio.run(run_trial(trial_id, actor=actor, on_progress=progress))
        if finished.status != "completed":
            raise InvalidRequest(
                f"the {which} trial {trial_id} {finished.status}: {finished.error}", param=which
            )
    with session_scope(write=True) as s:
        user: User | None = get_user(s, user_email) if user_email else None
        comparison = compare_trials(s, trial_ids["base"], trial_ids["tuned"], user=user, actor=actor)
    return {
        "workspace": workspace,
        "base": {"endpoint": base, "trial_id": trial_ids["base"]},
        "tuned": {"endpoint": tuned, "trial_id": trial_ids["tuned"]},
        "suite": suite or default_suite(),
        "comparison": comparison,
    }


__all__ = ["compare_endpoints", "create_pair", "default_suite"]
