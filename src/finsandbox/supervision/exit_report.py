"""The exit report of a use case: what was tested, how it scored, what the supervisor found and how
it was resolved, what the guards did, what compute it used, and the ledger head it was written at.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finsandbox import __version__, ledger
from finsandbox.access.authz import authorize
from finsandbox.errors import NotFound
from finsandbox.programme.workspaces import get_workspace
from finsandbox.reports import charts
from finsandbox.reports.render import render_html, render_pdf
from finsandbox.store.models import LedgerEntry, Review, Scorecard, Trial, UsageRecord, User, Workspace
from finsandbox.supervision.framework import load_framework
from finsandbox.supervision.reviews import review_as_dict
from finsandbox.supervision.scorecards import compute_for_trial, guard_statistics

__all__ = ["exit_report_context", "render_exit_html", "render_pdf", "write_exit_report"]


def _workspace(session: Session, slug: str, user: User | None) -> Workspace:
    try:
        ws = get_workspace(session, slug)
    except NotFound:
        raise NotFound(f"no use case {slug!r}") from None
    if user is not None:
        authorize(user, "report.export", ws, subject=f"use case {slug!r}")
    return ws


def usage_summary(session: Session, workspace_id: str) -> dict[str, Any]:
    """Compute used by the workspace: calls and tokens by endpoint, trials versus direct use."""
    rows = session.execute(
        select(
            UsageRecord.endpoint,
            UsageRecord.trial_id.is_not(None),
            func.count(),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
            func.coalesce(func.avg(UsageRecord.latency_ms), 0.0),
        )
        .where(UsageRecord.workspace_id == workspace_id)
        .group_by(UsageRecord.endpoint, UsageRecord.trial_id.is_not(None))
        .order_by(UsageRecord.endpoint)
    ).all()
    by = [
        {
            "endpoint": endpoint,
            "source": "trials" if from_trial else "direct",
            "calls": int(calls),
            "prompt_tokens": int(prompt),
            "completion_tokens": int(completion),
            "mean_latency_ms": round(float(latency), 1),
        }
        for endpoint, from_trial, calls, prompt, completion, latency in rows
    ]
    return {
        "rows": by,
        "calls": sum(r["calls"] for r in by),
        "prompt_tokens": sum(r["prompt_tokens"] for r in by),
        "completion_tokens": sum(r["completion_tokens"] for r in by),
    }


def _workspace_chats(session: Session, workspace_id: str, head_seq: int) -> list[tuple[int, dict[str, Any]]]:
    entries = session.execute(
        select(LedgerEntry.seq, LedgerEntry.payload).where(
            LedgerEntry.workspace_id == workspace_id,
            LedgerEntry.kind == "gateway.chat",
            LedgerEntry.seq <= head_seq,
        )
    ).all()
    return [(seq, json.loads(payload)) for seq, payload in entries]


def exit_report_context(session: Session, workspace: str, *, user: User | None = None) -> dict[str, Any]:
    """Everything the exit report shows, as plain data (the bundle stores the same data)."""
    ws = _workspace(session, workspace, user)
    head_entry = ledger.head(session)
    head = (
        {"seq": head_entry.seq, "hash": head_entry.entry_hash}
        if head_entry
        else {"seq": 0, "hash": ledger.GENESIS}
    )
    framework = load_framework()
    trials = [
        t
        for t in session.scalars(select(Trial).where(Trial.workspace_id == ws.id).order_by(Trial.created_at))
        if t.summary
    ]
    all_cards: list[dict[str, Any]] = []
    latest: list[dict[str, Any]] = []
    for trial in trials:
        stored = list(
            session.scalars(
                select(Scorecard).where(Scorecard.trial_id == trial.id).order_by(Scorecard.version)
            )
        )
        if stored:
            cards = [
                {**c.data, "id": c.id, "version": c.version, "created_at": c.created_at.isoformat()}
                for c in stored
            ]
        else:
            cards = [{**compute_for_trial(session, trial, framework), "id": None, "version": None}]
        all_cards.extend(cards)
        latest.append(cards[-1])
    labels = [f"{i + 1}. {c['trial']['name'][:24]}" for i, c in enumerate(latest)]
    principle_ids = list(
        dict.fromkeys(pid for c in latest for pid, p in c["principles"].items() if p["judged"])
    )
    trend_svg = charts.trend_chart(
        labels,
        {
            "overall": [c["overall"]["pass_rate"] for c in latest],
            **{pid: [c["principles"].get(pid, {}).get("pass_rate") for c in latest] for pid in principle_ids},
        },
        "Pass rate by trial",
    )
    bars_svg = None
    if latest:
        last = latest[-1]
        names = [pid for pid in last["principles"] if last["principles"][pid]["judged"]]
        bars_svg = charts.rate_bars(
            names,
            [last["principles"][n]["pass_rate"] for n in names],
            [last["principles"][n]["ci"] for n in names],
            "Latest trial by principle",
        )
    reviews = [
        review_as_dict(r)
        for r in session.scalars(
            select(Review).where(Review.workspace_id == ws.id).order_by(Review.created_at)
        )
    ]
    findings = [f for r in reviews for f in r["findings"]]
    return {
        "workspace_row": ws,
        "workspace": {
            "id": ws.id,
            "slug": ws.slug,
            "name": ws.name,
            "theme": ws.theme,
            "bank": ws.bank.name,
            "status": ws.status,
            "members": [
                {"email": m.user.email, "institution": m.user.institution.name, "role": m.role}
                for m in ws.members
            ],
        },
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generated_by": user.email if user else "the operator (command line)",
        "version": __version__,
        "framework": {
            "name": framework.name,
            "version": framework.framework.version,
            "title": framework.framework.title,
        },
        "ledger_head": head,
        "trials": [
            {
                "id": c["trial"]["id"],
                "name": c["trial"]["name"],
                "status": c["trial"]["status"],
                "created_at": c["trial"]["created_at"],
                "endpoint": c["trial"]["endpoint"],
                "cases": c["overall"]["cases"],
                "pass_rate": c["overall"]["pass_rate"],
                "ci": c["overall"]["ci"],
                "grade": c["overall"]["grade"],
                "scorecard_version": c.get("version"),
            }
            for c in latest
        ],
        "scorecards": all_cards,
        "latest_scorecards": latest,
        "trend_svg": charts.data_uri(trend_svg) if latest else None,
        "bars_svg": charts.data_uri(bars_svg) if bars_svg else None,
        "reviews": reviews,
        "findings_open": sum(1 for f in findings if f["status"] != "resolved"),
        "findings_resolved": sum(1 for f in findings if f["status"] == "resolved"),
        "guards": guard_statistics(_workspace_chats(session, ws.id, head["seq"])),
        "usage": usage_summary(session, ws.id),
    }


def render_exit_html(context: dict[str, Any]) -> str:
    return render_html("exit_report.html", context)


def write_exit_report(
    session: Session, workspace: str, output: Path, *, user: User | None = None, pdf: bool = True
) -> dict[str, Path]:
    """Render a use case's exit report into `output` as HTML (and PDF); returns the paths."""
    html = render_exit_html(exit_report_context(session, workspace, user=user))
    output.mkdir(parents=True, exist_ok=True)
    paths = {"html": output / f"exit-report-{workspace}.html"}
    paths["html"].write_text(html, encoding="utf-8")
    if pdf:
        paths["pdf"] = output / f"exit-report-{workspace}.pdf"
        paths["pdf"].write_bytes(render_pdf(html))
    return paths
