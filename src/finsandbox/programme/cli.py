"""Programme commands: cohorts, applications (submit, assess, admit, decline, withdraw), lifecycle state.

Mounted by `finsandbox.cli` as `finsandbox cohort`, `finsandbox application` and
`finsandbox programme workspace state`. Commands that act for a person take `--as EMAIL` (or
FINSANDBOX_USER) and go through the same authorisation as the API and the web pages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from finsandbox.clitools import actor as cli_actor
from finsandbox.clitools import console, table
from finsandbox.errors import InvalidRequest

cohort_app = typer.Typer(help="Cohorts: time-boxed intakes of use cases.", no_args_is_help=True)
application_app = typer.Typer(
    help="Applications: propose a use case, assess it on the rubric, admit or decline it.",
    no_args_is_help=True,
)

AsUser = Annotated[
    str | None,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
AsUserRequired = Annotated[
    str,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


@contextmanager
def _session(write: bool = True) -> Iterator[Session]:
    from finsandbox.store import session_scope, upgrade

    upgrade()
    with session_scope(write=write) as s:
        yield s


def _user(session: Session, email: str | None) -> Any:
    if not email:
        return None
    from finsandbox.access import get_user

    return get_user(session, email)


def _actor(user: Any) -> str:
    return f"user:{user.email}" if user is not None else cli_actor()


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{option} must be a date like 2026-12-31, not {value!r}", param=option
        ) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _score(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


# --- cohorts ------------------------------------------------------------------------------------


@cohort_app.command("create")
def cohort_create(
    name: str,
    theme: Annotated[list[str] | None, typer.Option(help="a theme the cohort takes; repeatable")] = None,
    starts: Annotated[str | None, typer.Option(help="start date, YYYY-MM-DD")] = None,
    ends: Annotated[str | None, typer.Option(help="end date, YYYY-MM-DD")] = None,
    k: Annotated[int, typer.Option("--k", help="insights: minimum institutions per figure")] = 3,
    planned: Annotated[bool, typer.Option(help="create it planned (not yet taking applications)")] = False,
    as_user: AsUser = None,
) -> None:
    """Create a cohort, open for applications unless --planned."""
    from finsandbox.programme.cohorts import create_cohort

    with _session() as s:
        user = _user(s, as_user)
        c = create_cohort(
            s,
            name=name,
            themes=theme or [],
            actor=_actor(user),
            user=user,
            starts_on=_date(starts, "--starts") if starts else None,
            ends_on=_date(ends, "--ends") if ends else None,
            min_group_size=k,
            status="planned" if planned else "open",
        )
        console.print(f"cohort {c.name} created, {c.status} (k = {c.min_group_size})")


@cohort_app.command("list")
def cohort_list(as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """Cohorts with their themes, dates, status, applications and use cases."""
    from finsandbox.programme.applications import list_applications
    from finsandbox.programme.cohorts import cohort_workspaces, list_cohorts

    with _session(write=False) as s:
        user = _user(s, as_user)
        rows = []
        for c in list_cohorts(s, user=user):
            apps = list_applications(s, user=user, cohort=c.id)
            rows.append(
                {
                    "name": c.name,
                    "themes": c.themes,
                    "starts_on": c.starts_on,
                    "ends_on": c.ends_on,
                    "status": c.status,
                    "k": c.min_group_size,
                    "applications": len(apps),
                    "use_cases": len(cohort_workspaces(s, c)),
                }
            )
    if as_json:
        _print_json(rows)
        return
    table(
        "cohorts",
        ["name", "themes", "starts", "ends", "status", "k", "applications", "use cases"],
        [
            [
                r["name"],
                ", ".join(r["themes"]),
                r["starts_on"],
                r["ends_on"],
                r["status"],
                r["k"],
                r["applications"],
                r["use_cases"],
            ]
            for r in rows
        ],
    )


@cohort_app.command("show")
def cohort_show(name: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """One cohort with the applications and use cases you may see."""
    from finsandbox.programme import lifecycle
    from finsandbox.programme.applications import list_applications
    from finsandbox.programme.cohorts import get_cohort
    from finsandbox.programme.workspaces import list_workspaces

    with _session(write=False) as s:
        user = _user(s, as_user)
        c = get_cohort(s, name, user=user)
        apps = list_applications(s, user=user, cohort=c.id)
        workspaces = list_workspaces(s, user=user, cohort_id=c.id)
        data = {
            "id": c.id,
            "name": c.name,
            "themes": c.themes,
            "starts_on": c.starts_on,
            "ends_on": c.ends_on,
            "status": c.status,
            "k": c.min_group_size,
            "applications": [
                {
                    "id": a.id,
                    "title": a.title,
                    "bank": a.bank.name,
                    "theme": a.theme,
                    "state": lifecycle.state_of(a),
                }
                for a in apps
            ],
            "workspaces": [{"slug": w.slug, "state": w.status, "bank": w.bank.name} for w in workspaces],
        }
    if as_json:
        _print_json(data)
        return
    console.print(
        f"cohort [bold]{data['name']}[/] ({data['status']}): themes {', '.join(data['themes']) or 'any'}, "
        f"{data['starts_on'] or '?'} to {data['ends_on'] or '?'}, k = {data['k']}"
    )
    table(
        "applications",
        ["id", "title", "bank", "theme", "state"],
        [
            [a["id"][:12], a["title"], a["bank"], a["theme"], lifecycle.label(a["state"])]
            for a in data["applications"]
        ],
    )
    table(
        "use cases",
        ["workspace", "bank", "state"],
        [[w["slug"], w["bank"], lifecycle.label(w["state"])] for w in data["workspaces"]],
    )


@cohort_app.command("open")
def cohort_open(name: str, as_user: AsUser = None) -> None:
    """Start (or resume) taking applications."""
    from finsandbox.programme.cohorts import get_cohort, open_cohort

    with _session() as s:
        user = _user(s, as_user)
        c = open_cohort(s, get_cohort(s, name, user=user), actor=_actor(user), user=user)
        console.print(f"cohort {c.name} is open for applications")


@cohort_app.command("close")
def cohort_close(name: str, as_user: AsUser = None) -> None:
    """Stop taking applications; admitted use cases carry on."""
    from finsandbox.programme.cohorts import close_cohort, get_cohort

    with _session() as s:
        user = _user(s, as_user)
        c = close_cohort(s, get_cohort(s, name, user=user), actor=_actor(user), user=user)
        console.print(f"cohort {c.name} is closed to applications")


@cohort_app.command("add-workspace")
def cohort_add_workspace(cohort: str, workspace: str, as_user: AsUser = None) -> None:
    """Put a workspace (use case) created outside an application into a cohort."""
    from finsandbox.programme.cohorts import add_workspace, get_cohort
    from finsandbox.programme.workspaces import get_workspace

    with _session() as s:
        user = _user(s, as_user)
        add_workspace(s, get_cohort(s, cohort), get_workspace(s, workspace), actor=_actor(user), user=user)
        console.print(f"{workspace} is now in cohort {cohort}")


# --- applications -------------------------------------------------------------------------------


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
        _print_json(data)
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


@application_app.command("submit")
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

    with _session() as s:
        user = _user(s, as_user)
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


@application_app.command("list")
def application_list(
    as_user: AsUser = None,
    cohort: Annotated[str | None, typer.Option(help="only this cohort")] = None,
    state: Annotated[str | None, typer.Option(help="only applications in this state")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Applications you may see, newest first."""
    from finsandbox.programme import lifecycle
    from finsandbox.programme.applications import list_applications

    with _session(write=False) as s:
        user = _user(s, as_user)
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
        _print_json(rows)
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


@application_app.command("show")
def application_show(application_id: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """An application, its state, and (for supervisors) its rubric scores."""
    with _session(write=False) as s:
        _show_application(s, application_id, _user(s, as_user), as_json)


@application_app.command("rubric")
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


@application_app.command("assess")
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
    with _session() as s:
        user = _user(s, as_user)
        a = assess(s, user, application_id, scores=scores, comment=comment)
        console.print(f"assessment recorded: weighted score {a.weighted:.2f}")
        _show_application(s, application_id, user)


@application_app.command("start-assessment")
def application_start(application_id: str, as_user: AsUserRequired) -> None:
    """Take a proposed application into assessment (supervisors); the bank can no longer change it."""
    from finsandbox.programme.applications import start_assessment

    with _session() as s:
        a = start_assessment(s, _user(s, as_user), application_id)
        console.print(f"application {a.id} is under assessment")


@application_app.command("admit")
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

    with _session() as s:
        ws = admit(
            s, _user(s, as_user), application_id, force_reason=force, slug=slug, endpoint=not no_endpoint
        )
        console.print(f"admitted: workspace {ws.slug} created with {len(ws.members)} member(s)")
        print(ws.slug)


@application_app.command("decline")
def application_decline(
    application_id: str,
    as_user: AsUserRequired,
    reasons: Annotated[str, typer.Option(help="why; the bank will read this")],
) -> None:
    """Decline with reasons (supervisors)."""
    from finsandbox.programme.applications import decline

    with _session() as s:
        a = decline(s, _user(s, as_user), application_id, reasons=reasons)
        console.print(f"application {a.id} declined")


@application_app.command("withdraw")
def application_withdraw(
    application_id: str,
    as_user: AsUserRequired,
    reason: Annotated[str, typer.Option(help="why (optional)")] = "",
) -> None:
    """Withdraw your bank's application (or its admitted use case)."""
    from finsandbox.programme.applications import withdraw

    with _session() as s:
        a = withdraw(s, _user(s, as_user), application_id, reason=reason)
        console.print(f"application {a.id} withdrawn")


# --- lifecycle state of a workspace (mounted as `programme workspace state`) ----------------------


def workspace_state_command(
    workspace: str,
    to: Annotated[
        str | None,
        typer.Option(help="move it: concluded, withdrawn, experimenting, under_review (needs --as)"),
    ] = None,
    note: Annotated[str, typer.Option(help="why (the exit decision when concluding)")] = "",
    as_user: AsUser = None,
    as_json: JsonFlag = False,
) -> None:
    """A use case's lifecycle state, where it may go next and its history; --to moves it."""
    from finsandbox.programme import lifecycle
    from finsandbox.programme.workspaces import get_workspace

    with _session(write=to is not None) as s:
        user = _user(s, as_user)
        ws = get_workspace(s, workspace, user=user)
        if to is not None:
            if user is None:
                raise InvalidRequest("say who moves the use case with --as EMAIL", param="as")
            before = lifecycle.change_state(s, user, ws, to, note=note)
            console.print(f"{ws.slug}: {lifecycle.label(before)} -> {lifecycle.label(to)}")
        data = lifecycle.workspace_state(s, ws)
    if as_json:
        _print_json(data)
        return
    console.print(
        f"workspace [bold]{data['workspace']}[/]: [bold]{data['state_label']}[/]"
        + (
            f"; next: {', '.join(lifecycle.label(x) for x in data['next_states'])}"
            if data["next_states"]
            else ""
        )
    )
    table(
        "lifecycle",
        ["ledger", "at", "who", "what", "state"],
        [
            [h["seq"], h["at"][:19], h["actor"], h["kind"], lifecycle.label(h["to"] or "")]
            for h in data["history"]
        ],
    )


__all__ = ["application_app", "cohort_app", "workspace_state_command"]
