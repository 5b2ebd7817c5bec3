"""Cohort insights: anonymised aggregates for supervisors, never a figure about fewer than k institutions.

Each use case contributes its trials' scorecards (computed with the programme's framework, so a
cohort is judged by one yardstick). Figures are grouped by theme, principle, practice (retrieval,
guard policy, model) and trial order; a group backed by fewer than k distinct banks is shown as
suppressed, with no number that could single one out. No name or identifier of an institution or
workspace appears in the output.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox.access.authz import authorize
from finsandbox.errors import InvalidRequest
from finsandbox.store.models import Finding, Review, Trial, User, Workspace
from finsandbox.supervision.cohorts import cohort_workspaces, get_cohort
from finsandbox.supervision.framework import LoadedFramework, load_framework
from finsandbox.supervision.scorecards import compute_for_trial

TOP_FINDINGS = 10


@dataclass
class _UseCase:
    """One workspace's contribution; `bank` is used only for counting, never shown."""

    bank: str
    theme: str
    cards: list[dict[str, Any]]

    @property
    def latest(self) -> dict[str, Any]:
        return self.cards[-1]


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


class _Suppressor:
    """Turns groups of (bank, value) into figures, or into a suppression note below k banks."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.suppressed = 0

    def figure(self, points: Sequence[tuple[str, float]]) -> dict[str, Any]:
        banks = {b for b, _ in points}
        if len(banks) < self.k:
            self.suppressed += 1
            return {"suppressed": True, "reason": f"fewer than {self.k} institutions"}
        # One value per bank (their mean), so a bank with many use cases does not weigh more.
        per_bank: dict[str, list[float]] = defaultdict(list)
        for bank, value in points:
            per_bank[bank].append(value)
        values = sorted(statistics.fmean(v) for v in per_bank.values())
        q1, median, q3 = _quartiles(values)
        return {
            "suppressed": False,
            "institutions": len(banks),
            "use_cases": len(points),
            "mean": statistics.fmean(values),
            "median": median,
            "q1": q1,
            "q3": q3,
        }


def _collect(session: Session, workspaces: Sequence[Workspace], framework: LoadedFramework) -> list[_UseCase]:
    out = []
    for ws in workspaces:
        trials = [
            t
            for t in session.scalars(
                select(Trial).where(Trial.workspace_id == ws.id).order_by(Trial.created_at)
            )
            if t.summary
        ]
        cards = [compute_for_trial(session, t, framework) for t in trials]
        if cards:
            out.append(_UseCase(bank=ws.bank_id, theme=ws.theme, cards=cards))
    return out


def _grouped(
    use_cases: Sequence[_UseCase],
    key: Callable[[_UseCase], str | None],
    value: Callable[[_UseCase], float | None],
) -> dict[str, list[tuple[str, float]]]:
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for uc in use_cases:
        k, v = key(uc), value(uc)
        if k is not None and v is not None:
            groups[k].append((uc.bank, v))
    return dict(sorted(groups.items()))


def _model_of(uc: _UseCase) -> str | None:
    models = uc.latest["guards"].get("models") or {}
    return max(models, key=lambda m: models[m]) if models else None


PRACTICES: dict[str, Callable[[_UseCase], str | None]] = {
    "retrieval": lambda uc: "on" if uc.latest["practices"].get("retrieval") else "off",
    "guard_policy": lambda uc: uc.latest["practices"].get("guard_policy") or "default",
    "model": _model_of,
}


def cohort_insights(
    session: Session, cohort_name: str, *, user: User | None = None, k: int | None = None
) -> dict[str, Any]:
    """Anonymised aggregates over a cohort; `k` may raise the cohort's minimum group size, never lower it."""
    cohort = get_cohort(session, cohort_name)
    if user is not None:
        authorize(user, "insights.view", cohort)
    floor = cohort.min_group_size
    if k is not None and k < floor:
        raise InvalidRequest(
            f"k={k} is below cohort {cohort.name}'s minimum group size of {floor}; it may only be raised",
            param="k",
        )
    k = k or floor
    framework = load_framework()
    workspaces = cohort_workspaces(session, cohort)
    use_cases = _collect(session, workspaces, framework)
    sup = _Suppressor(k)
    overall = lambda uc: uc.latest["overall"]["pass_rate"]  # noqa: E731

    themes = {
        theme: {
            "overall": sup.figure(points),
            "principles": {
                pid: sup.figure(pp)
                for pid, pp in _principle_points(
                    [u for u in use_cases if u.theme == theme], framework
                ).items()
            },
        }
        for theme, points in _grouped(use_cases, lambda uc: uc.theme, overall).items()
    }
    principles = {pid: sup.figure(points) for pid, points in _principle_points(use_cases, framework).items()}
    practices = {
        name: {group: sup.figure(points) for group, points in _grouped(use_cases, key, overall).items()}
        for name, key in PRACTICES.items()
    }
    trends: dict[str, Any] = {}
    longest = max((len(uc.cards) for uc in use_cases), default=0)
    for i in range(longest):
        points = [
            (uc.bank, uc.cards[i]["overall"]["pass_rate"])
            for uc in use_cases
            if len(uc.cards) > i and uc.cards[i]["overall"]["pass_rate"] is not None
        ]
        trends[f"trial {i + 1}"] = sup.figure(points)
    findings = _findings(session, workspaces, sup)
    return {
        "cohort": {"name": cohort.name, "themes": cohort.themes, "status": cohort.status},
        "k": k,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "framework": {"name": framework.name, "version": framework.framework.version},
        "institutions": banks if (banks := len({uc.bank for uc in use_cases})) >= k else None,
        "overall": sup.figure([(uc.bank, v) for uc in use_cases if (v := overall(uc)) is not None]),
        "themes": themes,
        "principles": principles,
        "practices": practices,
        "trends": trends,
        "findings": findings,
        "suppressed_groups": sup.suppressed,
        "note": f"No figure is shown for a group of fewer than {k} institutions.",
    }


def _principle_points(
    use_cases: Sequence[_UseCase], framework: LoadedFramework
) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for pid in framework.framework.ids:
        points = [
            (uc.bank, rate)
            for uc in use_cases
            if (rate := uc.latest["principles"].get(pid, {}).get("pass_rate")) is not None
        ]
        if points:
            out[pid] = points
    return out


def _findings(session: Session, workspaces: Sequence[Workspace], sup: _Suppressor) -> list[dict[str, Any]]:
    """The most common (principle, severity) of findings; a kind seen at fewer than k banks is dropped."""
    bank_of = {ws.id: ws.bank_id for ws in workspaces}
    if not bank_of:
        return []
    rows = session.execute(
        select(Finding.principle, Finding.severity, Review.workspace_id)
        .join(Review, Review.id == Finding.review_id)
        .where(Review.workspace_id.in_(list(bank_of)))
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    banks: dict[tuple[str, str], set[str]] = defaultdict(set)
    for principle, severity, ws_id in rows:
        counts[(principle, severity)] += 1
        banks[(principle, severity)].add(bank_of[ws_id])
    shown = []
    hidden = 0
    for (principle, severity), n in counts.most_common():
        if len(banks[(principle, severity)]) < sup.k:
            hidden += 1
            continue
        shown.append(
            {
                "principle": principle,
                "severity": severity,
                "findings": n,
                "institutions": len(banks[(principle, severity)]),
            }
        )
    sup.suppressed += hidden
    return shown[:TOP_FINDINGS]


def render_insights_html(data: dict[str, Any]) -> str:
    from finsandbox.reports import charts
    from finsandbox.reports.render import render_html

    shown = {pid: f for pid, f in data["principles"].items() if not f["suppressed"]}
    chart = None
    if shown:
        chart = charts.data_uri(
            charts.rate_bars(
                list(shown),
                [f["median"] for f in shown.values()],
                [[f["q1"], f["q3"]] for f in shown.values()],
                "Median pass rate by principle (bars: interquartile range)",
                xlabel="pass rate (%), median and interquartile range",
            )
        )
    return render_html("insights.html", {**data, "chart": chart})
