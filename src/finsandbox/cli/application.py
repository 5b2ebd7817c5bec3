"""`finsandbox application`: propose a use case, assess it on the rubric, admit or decline it.

Commands that act for a person take `--as EMAIL` (or FINSANDBOX_USER) and go through the same
authorisation as the API and the web pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from finsandbox.cli._common import (
    AsUser,
    AsUserRequired,
    JsonFlag,
    console,
    group,
    open_session,
    print_json,
    table,
    user_of,
)
from finsandbox.errors import InvalidRequest

app = group("Applications: propose a use case, assess it on the rubric, admit or decline it.")


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print_application(data: dict[str, Any]) -> None:
    console.print(
        f"application [bold]{data['id']}[/] {data['title']!r}: [bold]{data['state_label']}[/]\n"
        f"  cohort {data['cohort']}, bank {data['bank']}"
        + (f" with {data['tech_partner']}" if data["tech_partner"] else "")
        + f", theme {data['theme']}, approach {data['approach_label']}, "
        f"risk materiality {data['risk_materiality']}"
    )
    for name in ("description", "data_used", "expected_benefit", "risk_notes"):
        if data[name]:
            console.print(f"  [dim]{name.replace('_', ' ')}:[/] {data[name]}", markup=True, highlight=False)
    console.print("  team: " + ", ".join(f"{m['email']} ({m['role']})" for m in data["members"]))
    if data["workspace"]:
        console.print(f"  workspace: {data['workspace']}")
    if data["decision_reasons"]:
        console.print(f"  reasons: {data['decision_reasons']}")
    if data["forced_reason"]:
        console.print(f"  admitted with too few assessments because: {data['forced_reason']}")
    if data["next_states"]:
        console.print("  next: " + ", ".join(s.replace("_", " ") for s in data["next_states"]))
    agg = data["assessment"]
    if agg is not None:
        enough = "enough" if agg["enough"] else f"needs {agg['min_assessments']}"
        console.print(
            f"  rubric {agg['rubric']}: {agg['assessors']} assessment(s) ({enough}), "
            f"overall {_score(agg['overall'])}"
        )
        if agg["assessors"]:
            table(
                "by criterion",
                ["criterion", "weight", "mean", "min", "max", "spread"],
                [
                    [c["name"], c["weight"], _score(c["mean"]), c["min"], c["max"], c["spread"]]
                    for c in agg["criteria"]
                ],
            )
            table(
                "by assessor",
                ["assessor", "weighted", "comment"],
                [[a["assessor"], _score(a["weighted"]), a["comment"]] for a in agg["by_assessor"]],
            )
        for note in agg["notes"]:
            console.print(f"[yellow]note:[/] {note}")


def _show_application(session: Session, application_id: str, user: Any, as_json: bool = False) -> None:
    from finsandbox.programme.applications import application_as_dict, get_application

    session.flush()
    data = application_as_dict(session, get_application(session, application_id, user=user), user=user)
    if as_json:
        print_json(data)
    else:
        _print_application(data)


def _text(value: str | None, file: Path | None, option: str) -> str:
    """Text from an option, or from a file for long answers."""
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequest(
                f"{option}-file: cannot read {file} ({exc.strerror})", param=option
            ) from None
    return value or ""


@app.command("submit")
def application_submit(
    as_user: AsUserRequired,
    cohort: Annotated[str, typer.Option(help="the cohort applied to")],
    title: Annotated[str, typer.Option(help="the use case's title")],
    theme: Annotated[str, typer.Option(help="risk_management, anti_fraud, customer_service, ...")],
    approach: Annotated[str, typer.Option(help="rag, fine_tuning, prompting or agent")],
    risk: Annotated[str, typer.Option("--risk", help="risk materiality self-assessment: low, medium, high")],
    description: Annotated[str | None, typer.Option(help="what the use case does")] = None,
    description_file: Annotated[Path | None, typer.Option(help="read the description from a file")] = None,
    data_used: Annotated[str | None, typer.Option(help="the data it uses")] = None,
    benefit: Annotated[str | None, typer.Option(help="the expected benefit")] = None,
    risk_notes: Annotated[str, typer.Option(help="why that risk materiality")] = "",
    partner: Annotated[str | None, typer.Option(help="the tech partner institution, if any")] = None,
    member: Annotated[
        list[str] | None, typer.Option(help="a bank or tech-partner user for the team (email); repeatable")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="print only the application id")] = False,
) -> None:
    """Propose a use case to an open cohort (bank users); you become its owner."""
    from finsandbox.programme.applications import submit_application

    with open_session() as s:
        user = user_of(s, as_user)
        a = submit_application(
            s,
            user,
            cohort=cohort,
            title=title,
            theme=theme,
            description=_text(description, description_file, "--description"),
            approach=approach,
            data_used=data_used or "",
            expected_benefit=benefit or "",
            risk_materiality=risk,
            risk_notes=risk_notes,
            tech_partner=partner,
            members=member or [],
        )
        if not quiet:
            console.print(f"application {a.id} submitted to cohort {a.cohort.name}: proposed")
        print(a.id)


@app.command("list")
def application_list(
    as_user: AsUser = None,
    cohort: Annotated[str | None, typer.Option(help="only this cohort")] = None,
    state: Annotated[str | None, typer.Option(help="only applications in this state")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Applications you may see, newest first."""
    from finsandbox.programme import lifecycle
    from finsandbox.programme.applications import list_applications

    with open_session(write=False) as s:
        user = user_of(s, as_user)
        rows = [
            {
                "id": a.id,
                "title": a.title,
                "cohort": a.cohort.name,
                "bank": a.bank.name,
                "tech_partner": a.tech_partner.name if a.tech_partner else None,
                "theme": a.theme,
                "approach": a.approach,
                "state": lifecycle.state_of(a),
                "assessments": len(a.assessments),
                "workspace": a.workspace.slug if a.workspace else None,
            }
            for a in list_applications(s, user=user, cohort=cohort, status=state)
        ]
    if as_json:
        print_json(rows)
        return
    table(
        "applications",
        ["id", "title", "cohort", "bank", "partner", "theme", "approach", "state", "assessed", "workspace"],
        [
            [
                r["id"][:12],
                r["title"],
                r["cohort"],
                r["bank"],
                r["tech_partner"],
                r["theme"],
                r["approach"],
                lifecycle.label(r["state"]),
                r["assessments"],
                r["workspace"],
            ]
            for r in rows
        ],
    )


@app.command("show")
def application_show(application_id: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """An application, its state, and (for supervisors) its rubric scores."""
    with open_session(write=False) as s:
        _show_application(s, application_id, user_of(s, as_user), as_json)


@app.command("rubric")
def application_rubric(
    rubric: Annotated[Path | None, typer.Option(help="a rubric YAML (default: the programme's)")] = None,
) -> None:
    """The admission rubric: criteria, weights, scale and how many assessments admission needs."""
    from finsandbox.programme.rubric import load_rubric

    loaded = load_rubric(rubric)
    r = loaded.rubric
    console.print(
        f"rubric {r.title or r.name} ({r.name} {r.version}), scale {r.scale.min}-{r.scale.max}, "
        f"admission needs {r.min_assessments} assessment(s); digest {loaded.digest[:16]}…"
    )
    table(
        "criteria",
        ["id", "name", "weight", "description"],
        [[c.id, c.name, c.weight, c.description] for c in r.criteria],
    )


@app.command("assess")
def application_assess(
    application_id: str,
    as_user: AsUserRequired,
    score: Annotated[
        list[str], typer.Option(help="criterion=score, e.g. innovation=4; one per rubric criterion")
    ],
    comment: Annotated[str, typer.Option(help="what the assessor wants to say")] = "",
) -> None:
    """Score an application on the rubric (supervisors); scoring again replaces your earlier scores."""
    from finsandbox.programme.applications import assess

    scores: dict[str, str] = {}
    for item in score:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidRequest(f"--score takes criterion=score, not {item!r}", param="scores")
        scores[key.strip()] = value.strip()
    with open_session() as s:
        user = user_of(s, as_user)
        a = assess(s, user, application_id, scores=scores, comment=comment)
        console.print(f"assessment recorded: weighted score {a.weighted:.2f}")
        _show_application(s, application_id, user)


@app.command("start-assessment")
def application_start(application_id: str, as_user: AsUserRequired) -> None:
    """Take a proposed application into assessment (supervisors); the bank can no longer change it."""
    from finsandbox.programme.applications import start_assessment

    with open_session() as s:
        a = start_assessment(s, user_of(s, as_user), application_id)
        console.print(f"application {a.id} is under assessment")


@app.command("admit")
def application_admit(
    application_id: str,
    as_user: AsUserRequired,
    force: Annotated[
        str | None,
        typer.Option(help="admit with fewer assessments than the rubric asks for, for this reason"),
    ] = None,
    slug: Annotated[str | None, typer.Option(help="the workspace slug (default: from the title)")] = None,
    no_endpoint: Annotated[bool, typer.Option(help="do not create the embedded-model endpoint")] = False,
) -> None:
    """Admit (supervisors): creates the use case's workspace with its team and an endpoint."""
    from finsandbox.programme.applications import admit

    with open_session() as s:
        ws = admit(
            s, user_of(s, as_user), application_id, force_reason=force, slug=slug, endpoint=not no_endpoint
        )
        console.print(f"admitted: workspace {ws.slug} created with {len(ws.members)} member(s)")
        print(ws.slug)


@app.command("decline")
def application_decline(
    application_id: str,
    as_user: AsUserRequired,
    reasons: Annotated[str, typer.Option(help="why; the bank will read this")],
) -> None:
    """Decline with reasons (supervisors)."""
    from finsandbox.programme.applications import decline

    with open_session() as s:
        a = decline(s, user_of(s, as_user), application_id, reasons=reasons)
        console.print(f"application {a.id} declined")


@app.command("withdraw")
def application_withdraw(
    application_id: str,
    as_user: AsUserRequired,
    reason: Annotated[str, typer.Option(help="why (optional)")] = "",
) -> None:
    """Withdraw your bank's application (or its admitted use case)."""
    from finsandbox.programme.applications import withdraw

    with open_session() as s:
        a = withdraw(s, user_of(s, as_user), application_id, reason=reason)
        console.print(f"application {a.id} withdrawn")
