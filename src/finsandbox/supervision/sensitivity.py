"""Suite sensitivity: does a suite's scorecard catch a model with a known defect, at the right principle?

A green scorecard means something only if the suite would have gone red for a model that leaks
personal data, hides that it is an AI, invents amounts, decides by sex, or obeys injected
instructions. The check wraps the endpoint in each defect injector (the `defect` backend), runs the
suite against the endpoint as it is and against every wrapped copy, and compares the principle the
defect offends in the model view (inherent risk, before any guard) with Fisher's exact test. It
also reports how often the unwrapped endpoint is flagged at that principle, and what reached the
caller (residual risk) once the guards had acted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finsandbox.errors import InvalidRequest, NotFound
from finsandbox.evals import trials
from finsandbox.evals.trial_config import TrialConfig
from finsandbox.gateway.backends.defect import DEFECTS, DESCRIPTION, PRINCIPLE
from finsandbox.programme.workspaces import add_endpoint, get_endpoint, get_workspace
from finsandbox.store import session_scope
from finsandbox.supervision.framework import LoadedFramework, load_framework
from finsandbox.supervision.scorecards import SIGNIFICANCE, compute_for_trial, fisher_exact


@dataclass(frozen=True)
class Rate:
    passed: int
    judged: int

    @property
    def rate(self) -> float | None:
        return self.passed / self.judged if self.judged else None


def _view(card: dict[str, Any], pid: str, view: str) -> Rate:
    block = (card["principles"].get(pid) or {}).get(view) or {}
    return Rate(int(block.get("passed") or 0), int(block.get("judged") or 0))


def defect_endpoint(session: Any, workspace_slug: str, endpoint: str, defect: str, actor: str) -> str:
    """The endpoint wrapped in `defect` (created once, named `<endpoint>--<defect>`)."""
    if defect not in DEFECTS:
        raise InvalidRequest(f"unknown defect {defect!r}; use one of {', '.join(DEFECTS)}")
    ws = get_workspace(session, workspace_slug)
    inner = get_endpoint(session, ws.id, endpoint)
    if inner.backend == "defect":
        raise InvalidRequest(f"endpoint {endpoint!r} is already a defect wrapper; check the clean endpoint")
    name = f"{endpoint}--{defect.replace('_', '-')}"
    config = {"inner_backend": inner.backend, "inner_config": dict(inner.config), "defect": defect}
    try:
        existing = get_endpoint(session, ws.id, name)
    except NotFound:
        add_endpoint(
            session,
            ws,
            name=name,
            backend="defect",
            config=config,
            actor=actor,
            customer_facing=inner.customer_facing,
        )
        return name
    if existing.backend != "defect" or dict(existing.config) != config:
        raise InvalidRequest(f"endpoint {name!r} exists and is not this defect wrapper of {endpoint!r}")
    return name


def _run(workspace: str, endpoint: str, suite: str, actor: str, label: str, **options: Any) -> str:
    with session_scope(write=True) as s:
        trial = trials.create_trial(
            s,
            TrialConfig(workspace=workspace, endpoint=endpoint, suites=[suite], name=label, **options),
            actor=actor,
        )
        trial_id = trial.id
    done = asyncio.run(trials.run_trial(trial_id, actor=actor))
    if done.status != "completed":
        raise InvalidRequest(f"the {label} trial {trial_id} ended {done.status}: {done.error}")
    return trial_id


def _card(trial_id: str, framework: LoadedFramework) -> dict[str, Any]:
    with session_scope() as s:
        return compute_for_trial(s, trials.get_trial(s, trial_id), framework)


def check_sensitivity(
    workspace: str,
    endpoint: str,
    suite: str,
    *,
    actor: str,
    defects: list[str] | None = None,
    framework: LoadedFramework | None = None,
    on_step: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run `suite` against the endpoint and each defect wrapper; per defect, was it caught?

    `options` go to every trial (max_cases, max_variants, concurrency, seed, ...).
    """
    framework = framework or load_framework()
    chosen = list(defects or DEFECTS)
    with session_scope(write=True) as s:
        wrapped = {d: defect_endpoint(s, workspace, endpoint, d, actor) for d in chosen}
    step = on_step or (lambda _msg: None)
    step(f"clean run of {suite} on {endpoint}")
    clean_id = _run(workspace, endpoint, suite, actor, f"sensitivity {suite}: clean", **options)
    clean = _card(clean_id, framework)
    rows = []
    for defect in chosen:
        step(f"{defect}: {DESCRIPTION[defect]}")
        trial_id = _run(workspace, wrapped[defect], suite, actor, f"sensitivity {suite}: {defect}", **options)
        card = _card(trial_id, framework)
        pid = PRINCIPLE[defect]
        before, after = _view(clean, pid, "inherent"), _view(card, pid, "inherent")
        residual = _view(card, pid, "residual")
        controls = (card["principles"].get(pid) or {}).get("controls") or {}
        evidenced = before.judged > 0 and after.judged > 0
        p = fisher_exact(after.passed, after.judged, before.passed, before.judged) if evidenced else None
        worse = evidenced and (after.rate or 0.0) < (before.rate or 0.0)
        rows.append(
            {
                "defect": defect,
                "description": DESCRIPTION[defect],
                "principle": pid,
                "evidenced": evidenced,
                "caught": bool(worse and p is not None and p < SIGNIFICANCE),
                "p_value": p,
                "clean_inherent": before.rate,
                "clean_flagged": None if before.rate is None else 1 - before.rate,
                "defect_inherent": after.rate,
                "defect_residual": residual.rate,
                "judged": after.judged,
                "guards_caught": controls.get("caught"),
                "model_failures": controls.get("model_failures"),
                "grades": {
                    "inherent": ((card["principles"].get(pid) or {}).get("inherent") or {}).get("grade"),
                    "residual": ((card["principles"].get(pid) or {}).get("residual") or {}).get("grade"),
                },
                "trial_id": trial_id,
            }
        )
    return {
        "suite": suite,
        "workspace": workspace,
        "endpoint": endpoint,
        "clean_trial_id": clean_id,
        "significance": SIGNIFICANCE,
        "test": "Fisher's exact test, two-sided, model view (inherent)",
        "defects": rows,
        "all_caught": all(r["caught"] for r in rows if r["evidenced"]),
    }
