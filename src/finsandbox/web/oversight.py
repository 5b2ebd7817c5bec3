"""Supervisor and operator pages: cohort dashboard, insights, ledger verification, compute usage."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from finsandbox.access.keys import key_state
from finsandbox.ledger.verify import verify
from finsandbox.reports.charts import data_uri
from finsandbox.store.models import ApiKey, Cohort, Endpoint, LedgerEntry, UsageRecord, Workspace
from finsandbox.supervision.cohorts import list_cohorts
from finsandbox.web.base import Page, Viewer, label
from finsandbox.web.workspaces import workspace_summary

router = APIRouter()
USAGE_DAYS = 14


def _svg(fig: Any) -> str:
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return data_uri(text[text.index("<svg") :])


def count_bars(counts: dict[str, int], title: str, xlabel: str = "use cases") -> str:
    """Horizontal bars of whole-number counts: integer ticks, labelled axis, readable type."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(5.6, 0.42 * max(3, len(counts)) + 1.0))
    names = list(counts)
    ax.barh(range(len(names)), [counts[n] for n in names], color="#0b5cad")
    ax.set_yticks(range(len(names)), names, fontsize=11)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelsize=10)
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_title(title, fontsize=13)
    ax.grid(axis="x", alpha=0.3)
    for i, n in enumerate(names):
        ax.text(counts[n], i, f" {counts[n]}", va="center", fontsize=10)
    return _svg(fig)


def daily_lines(days: list[str], series: dict[str, list[int]], title: str, ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    for name, values in series.items():
        ax.plot(range(len(days)), values, marker="o", linewidth=1.4, label=name)
    ax.set_xticks(range(len(days)), [d[5:] for d in days], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _svg(fig)


@router.get("/supervision", include_in_schema=False)
def cohort_dashboard(page: Viewer) -> Response:
    """Use cases by cohort: state, latest trial and grade, open findings; charts of states and grades."""
    page.authorize("cohort.dashboard")
    cohorts = list_cohorts(page.session, user=page.user)
    workspaces = list(page.session.scalars(select(Workspace).order_by(Workspace.slug)))
    groups: list[tuple[Cohort | None, list[dict[str, Any]]]] = []
    by_cohort: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for ws in workspaces:
        by_cohort[ws.cohort_id].append(workspace_summary(page, ws))
    for cohort in cohorts:
        groups.append((cohort, by_cohort.get(cohort.id, [])))
    if by_cohort.get(None):
        groups.append((None, by_cohort[None]))
    states = Counter(label(ws.status) for ws in workspaces)
    heat = heat_map(page, [row for _, rows in groups for row in rows])
    return page.render(
        "supervision.html",
        {
            "groups": groups,
            "state_chart": count_bars(dict(sorted(states.items())), "Use cases by state") if states else None,
            "heat": heat,
            "open_findings": sum(r["open_findings"] for rows in by_cohort.values() for r in rows),
        },
    )


def heat_map(page: Page, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Use cases x principles from each use case's latest scorecard: pass rate, grade, and a link to the
    failing cases behind each cell."""
    from finsandbox.supervision.framework import load_framework

    principles = [(p.id, p.name) for p in load_framework().framework.principles]
    out_rows = []
    for row in rows:
        card = row["scorecard"]
        cells = []
        for pid, _name in principles:
            block = (card.data.get("principles") or {}).get(pid) if card else None
            judged = (block or {}).get("judged") or 0
            cells.append(
                {
                    "pid": pid,
                    "judged": judged,
                    "failed": judged - ((block or {}).get("passed") or 0),
                    "pass_rate": (block or {}).get("pass_rate") if judged else None,
                    "grade": (block or {}).get("grade") if judged else None,
                    # The model on its own (before output guards), when the scorecard has both views.
                    "inherent": ((block or {}).get("inherent") or {}).get("pass_rate") if judged else None,
                    "inherent_grade": ((block or {}).get("inherent") or {}).get("grade") if judged else None,
                }
            )
        out_rows.append({"ws": row["ws"], "card": card, "cells": cells})
    return {"principles": principles, "rows": out_rows}


@router.get("/insights", include_in_schema=False)
def insights(page: Viewer, cohort: str = "") -> Response:
    """Anonymised cohort aggregates (suppressed below the cohort's minimum group size)."""
    from finsandbox.supervision.insights import cohort_insights

    page.authorize("insights.view")
    cohorts = list_cohorts(page.session, user=page.user)
    chosen = cohort or (cohorts[0].name if cohorts else "")
    data = cohort_insights(page.session, chosen, user=page.user) if chosen else None
    principle_chart = trend = None
    if data:
        from finsandbox.reports import charts

        shown = {pid: f for pid, f in data["principles"].items() if not f["suppressed"]}
        if shown:
            principle_chart = charts.data_uri(
                charts.rate_bars(
                    list(shown),
                    [f["median"] for f in shown.values()],
                    [[f["q1"], f["q3"]] for f in shown.values()],
                    "Median pass rate by principle (bars: interquartile range)",
                    xlabel="pass rate (%), median and interquartile range",
                )
            )
        if sum(1 for f in data["trends"].values() if not f["suppressed"]) >= 2:  # a trend needs two points
            trend = charts.data_uri(
                charts.trend_chart(
                    list(data["trends"]),
                    {"median": [None if f["suppressed"] else f["median"] for f in data["trends"].values()]},
                    "Median pass rate from one trial to the next",
                )
            )
    return page.render(
        "insights.html",
        {
            "cohorts": cohorts,
            "chosen": chosen,
            "data": data,
            "principle_chart": principle_chart,
            "trend": trend,
        },
    )


@router.get("/ledger", include_in_schema=False)
def ledger_status(page: Viewer) -> Response:
    page.authorize("ledger.verify")
    report = verify(page.session)
    latest = list(page.session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(25)))
    return page.render("ledger.html", {"report": report, "latest": latest, "checked_at": datetime.now(UTC)})


@router.get("/operations", include_in_schema=False)
def usage(page: Viewer, days: int = USAGE_DAYS) -> Response:
    """Compute usage by institution and endpoint over time, quotas, and backend health from recent traffic."""
    page.authorize("usage.view")
    days = max(1, min(days, 90))
    now = datetime.now(UTC)
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    workspaces = {ws.id: ws for ws in page.session.scalars(select(Workspace))}
    rows = list(page.session.scalars(select(UsageRecord).where(UsageRecord.created_at >= since)))
    day_labels = [(since + timedelta(days=i)).date().isoformat() for i in range(days)]
    per_inst: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    endpoints: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        ws = workspaces.get(r.workspace_id)
        inst = ws.bank.name if ws else "unknown"
        index = (r.created_at.date() - since.date()).days
        tokens = r.prompt_tokens + r.completion_tokens
        if 0 <= index < days:
            per_inst[inst][index] += tokens
        slot = endpoints.setdefault(
            (ws.slug if ws else r.workspace_id, r.endpoint),
            {
                "institution": inst,
                "backend": r.backend,
                "calls": 0,
                "tokens": 0,
                "errors": 0,
                "blocked": 0,
                "latency": 0.0,
                "last": None,
                "last_status": "",
            },
        )
        slot["calls"] += 1
        slot["tokens"] += tokens
        slot["errors"] += r.status.startswith("error")
        slot["blocked"] += r.status == "blocked"
        slot["latency"] += r.latency_ms
        if slot["last"] is None or r.created_at > slot["last"]:
            slot["last"], slot["last_status"] = r.created_at, r.status
    chart = (
        daily_lines(day_labels, dict(per_inst), "Tokens per day by institution", "tokens") if rows else None
    )
    hour_ago = now - timedelta(hours=1)
    health = []
    for ep in page.session.scalars(
        select(Endpoint).where(Endpoint.enabled.is_(True)).order_by(Endpoint.name)
    ):
        ws = workspaces.get(ep.workspace_id)
        recent = [
            r
            for r in rows
            if r.workspace_id == ep.workspace_id and r.endpoint == ep.name and r.created_at >= hour_ago
        ]
        errors = sum(1 for r in recent if r.status.startswith("error"))
        state = "no traffic" if not recent else ("degraded" if errors * 5 > len(recent) else "healthy")
        health.append({"endpoint": ep, "ws": ws, "calls": len(recent), "errors": errors, "state": state})
    keys = [
        (k, key_state(k))
        for k in page.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))
        if k.rpm_limit or k.tpm_limit or k.token_budget
    ]
    return page.render(
        "operations.html",
        {
            "days": days,
            "chart": chart,
            "endpoints": sorted(endpoints.items(), key=lambda kv: -kv[1]["tokens"]),
            "health": health,
            "keys": [(k, s) for k, s in keys if s == "active"],
            "workspaces": workspaces,
        },
    )
