"""The supervision end of the demo: scorecards, a supervisor's review tied to evidence, the exit
report (HTML and PDF) and the signed evidence bundle of one use case, written to a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from finsandbox.access import get_user
from finsandbox.errors import NotFound
from finsandbox.store import session_scope
from finsandbox.store.models import CaseResult
from finsandbox.supervision import keys
from finsandbox.supervision import reviews as rv
from finsandbox.supervision.bundles import export_bundle
from finsandbox.supervision.exit_report import write_exit_report
from finsandbox.supervision.scorecards import build_scorecard


@dataclass
class DemoOutputs:
    """What the demo produced; every path is inside the output folder."""

    scorecards: list[Path] = field(default_factory=list)
    review_id: str = ""
    finding: str = ""
    report_html: Path | None = None
    report_pdf: Path | None = None
    bundle: Path | None = None
    public_key: Path | None = None

    def lines(self) -> list[str]:
        out = [f"scorecard: {p}" for p in self.scorecards]
        out.append(f"review: {self.review_id} (finding: {self.finding})")
        out += [f"exit report: {self.report_pdf}", f"exit report (HTML): {self.report_html}"]
        out += [f"evidence bundle: {self.bundle}", f"public key: {self.public_key}"]
        out.append(f"verify: finsandbox bundle verify {self.bundle} --public-key {self.public_key}")
        return out


def demo_review(
    *,
    workspace: str,
    trial_ids: list[str],
    supervisor_email: str,
    participant_email: str,
    output_dir: Path,
) -> DemoOutputs:
    """Score the trials, review the latest with one finding tied to its worst case, and export.

    The finding cites the failing case result and its gateway ledger entries; the participant
    responds, the supervisor requests changes. Safe to run again: each run adds a new review.
    """
    if not trial_ids:
        raise NotFound("the demo needs at least one finished trial to review")
    out = DemoOutputs()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "scorecards").mkdir(exist_ok=True)
    latest_card_id = ""
    with session_scope(write=True) as s:
        sup = get_user(s, supervisor_email)
        for trial_id in trial_ids:
            card, _ = build_scorecard(s, trial_id, actor=f"user:{sup.email}", user=sup)
            path = output_dir / "scorecards" / f"{card.trial_id}-v{card.version}.json"
            path.write_text(json.dumps({"id": card.id, **card.data}, indent=2, default=str), encoding="utf-8")
            out.scorecards.append(path)
            latest_card_id = card.id
            data = card.data
    worst = next((w for r in data["recipes"].values() for w in r["worst"]), None)
    with session_scope(write=True) as s:
        sup = get_user(s, supervisor_email)
        if worst is None:  # everything passed: cite any case of the trial
            row = s.scalars(
                select(CaseResult).where(CaseResult.trial_id == data["trial"]["id"]).limit(1)
            ).first()
            worst = (
                {"case_result_id": row.id, "ledger_seqs": row.evidence.get("ledger_seqs", [])} if row else {}
            )
        recipe = next(
            (
                r
                for r in data["recipes"].values()
                if any(w["case_result_id"] == worst.get("case_result_id") for w in r["worst"])
            ),
            None,
        )
        principle = next(
            (p for p in (recipe or {}).get("principles", []) if p in data["principles"]),
            "reliability_accuracy",
        )
        review = rv.open_review(s, sup, latest_card_id, title=f"Demo review of {workspace}")
        out.review_id = review.id
        why = "; ".join(worst.get("reasons", []))[:200] or "see the cited evidence"
        out.finding = f"Case {worst.get('case_id', '?')} failed: {why}"
        rv.add_finding(
            s,
            sup,
            review.id,
            severity="medium",
            principle=principle,
            text=out.finding,
            case_result_ids=[worst["case_result_id"]] if worst.get("case_result_id") else [],
            ledger_seqs=worst.get("ledger_seqs", []),
        )
        rv.add_action(
            s,
            sup,
            review.id,
            text="Fix the cause and run the trial again.",
            due_on=(datetime.now(UTC) + timedelta(days=30)).date(),
            finding=1,
        )
    with session_scope(write=True) as s:
        rv.respond(
            s,
            get_user(s, participant_email),
            out.review_id,
            text="Understood; a fix is in progress.",
            finding=1,
        )
    with session_scope(write=True) as s:
        rv.decide(
            s,
            get_user(s, supervisor_email),
            out.review_id,
            decision="changes_requested",
            note="See finding 1.",
        )
    with session_scope() as s:
        paths = write_exit_report(s, workspace, output_dir, user=get_user(s, supervisor_email), pdf=True)
    out.report_html, out.report_pdf = paths["html"], paths["pdf"]
    with session_scope(write=True) as s:
        sup = get_user(s, supervisor_email)
        info = export_bundle(
            s, workspace, output_dir / f"evidence-{workspace}.zip", actor=f"user:{sup.email}", user=sup
        )
    out.bundle = info.path
    out.public_key = output_dir / "programme-public-key.pem"
    out.public_key.write_bytes(keys.public_bytes(keys.ensure_key().public_key()))
    return out
