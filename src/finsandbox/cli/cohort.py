"""`finsandbox cohort`: time-boxed intakes of use cases.

Commands that act for a person take `--as EMAIL` (or FINSANDBOX_USER) and go through the same
authorisation as the API and the web pages.
"""

from __future__ import annotations

from typing import Annotated

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    actor_of,
    console,
    group,
    open_session,
    parse_date,
    print_json,
    table,
    user_of,
)

app = group("Cohorts: time-boxed intakes of use cases.")


@app.command("create")
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

    with open_session() as s:
        user = user_of(s, as_user)
        c = create_cohort(
            s,
            name=name,
            themes=theme or [],
            actor=actor_of(user),
            user=user,
            starts_on=parse_date(starts, "--starts") if starts else None,
            ends_on=parse_date(ends, "--ends") if ends else None,
            min_group_size=k,
            status="planned" if planned else "open",
        )
        console.print(f"cohort {c.name} created, {c.status} (k = {c.min_group_size})")


@app.command("list")
def cohort_list(as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """Cohorts with their themes, dates, status, applications and use cases."""
    from finsandbox.programme.applications import list_applications
    from finsandbox.programme.cohorts import cohort_workspaces, list_cohorts

    with open_session(write=False) as s:
        user = user_of(s, as_user)
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
        print_json(rows)
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


@app.command("show")
def cohort_show(name: str, as_user: AsUser = None, as_json: JsonFlag = False) -> None:
    """One cohort with the applications and use cases you may see."""
    from finsandbox.programme import lifecycle
    from finsandbox.programme.applications import list_applications
    from finsandbox.programme.cohorts import get_cohort
    from finsandbox.programme.workspaces import list_workspaces

    with open_session(write=False) as s:
        user = user_of(s, as_user)
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
        print_json(data)
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


@app.command("open")
def cohort_open(name: str, as_user: AsUser = None) -> None:
    """Start (or resume) taking applications."""
    from finsandbox.programme.cohorts import get_cohort, open_cohort

    with open_session() as s:
        user = user_of(s, as_user)
        c = open_cohort(s, get_cohort(s, name, user=user), actor=actor_of(user), user=user)
        console.print(f"cohort {c.name} is open for applications")


@app.command("close")
def cohort_close(name: str, as_user: AsUser = None) -> None:
    """Stop taking applications; admitted use cases carry on."""
    from finsandbox.programme.cohorts import close_cohort, get_cohort

    with open_session() as s:
        user = user_of(s, as_user)
        c = close_cohort(s, get_cohort(s, name, user=user), actor=actor_of(user), user=user)
        console.print(f"cohort {c.name} is closed to applications")


@app.command("add-workspace")
def cohort_add_workspace(cohort: str, workspace: str, as_user: AsUser = None) -> None:
    """Put a workspace (use case) created outside an application into a cohort."""
    from finsandbox.programme.cohorts import add_workspace, get_cohort
    from finsandbox.programme.workspaces import get_workspace

    with open_session() as s:
        user = user_of(s, as_user)
        add_workspace(s, get_cohort(s, cohort), get_workspace(s, workspace), actor=actor_of(user), user=user)
        console.print(f"{workspace} is now in cohort {cohort}")
