"""`finsandbox review`: supervisor reviews with findings, required actions, responses and decisions.

Commands that act for a person take `--as EMAIL` (or FINSANDBOX_USER) and go through the same
authorisation as the API; read-only commands without `--as` run as the local operator of the
installation, who can read everything on this machine anyway.
"""

from __future__ import annotations

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
    parse_date,
    print_json,
    table,
    user_of,
)

app = group("Supervisor reviews: findings, required actions, responses, decisions.")


def _print_review(data: dict[str, Any]) -> None:
    console.print(
        f"review [bold]{data['id']}[/] {data['title']!r} on scorecard {data['scorecard']['id'][:12]} "
        f"v{data['scorecard']['version']} ({data['workspace']}): [bold]{data['status']}[/]"
    )
    if data["findings"]:
        table(
            "findings",
            ["#", "severity", "principle", "status", "text", "evidence"],
            [
                [
                    f["number"],
                    f["severity"],
                    f["principle"],
                    f["status"],
                    f["text"],
                    ", ".join(
                        [c[:12] for c in f["case_result_ids"]] + [f"ledger {x}" for x in f["ledger_seqs"]]
                    ),
                ]
                for f in data["findings"]
            ],
        )
    if data["actions"]:
        table(
            "required actions",
            ["#", "finding", "due", "status", "text"],
            [[a["number"], a["finding"], a["due_on"], a["status"], a["text"]] for a in data["actions"]],
        )
    for e in data["thread"]:
        on = (
            f" on finding {e['finding']}"
            if e["finding"]
            else (f" on action {e['action']}" if e["action"] else "")
        )
        console.print(
            f"  {e['at'][:19]} {e['author']} ({e['author_role']}) {e['kind']}{on}: {e['text']} "
            f"\\[ledger {e['ledger_seq']}]"
        )


def _show(session: Session, review_id: str, user: Any) -> None:
    from finsandbox.supervision.reviews import get_review, review_as_dict

    _print_review(review_as_dict(get_review(session, review_id, user=user)))


@app.command("open")
def review_open(
    scorecard_id: str,
    as_user: AsUserRequired,
    title: Annotated[str | None, typer.Option(help="a title for the review")] = None,
) -> None:
    """Open a review on one scorecard version (supervisors)."""
    from finsandbox.supervision.reviews import open_review

    with open_session() as s:
        review = open_review(s, user_of(s, as_user), scorecard_id, title=title)
        console.print(f"review {review.id} opened")
        print(review.id)


@app.command("finding")
def review_finding(
    review_id: str,
    as_user: AsUserRequired,
    severity: Annotated[str, typer.Option(help="low, medium, high or critical")],
    principle: Annotated[str, typer.Option(help="the principle id it concerns")],
    text: Annotated[str, typer.Option(help="what was found")],
    case: Annotated[list[str] | None, typer.Option(help="a case result id that shows it; repeatable")] = None,
    ledger_seq: Annotated[
        list[int] | None, typer.Option("--ledger", help="a ledger entry; repeatable")
    ] = None,
) -> None:
    """Add a finding tied to its evidence (supervisors)."""
    from finsandbox.supervision.reviews import add_finding

    with open_session() as s:
        user = user_of(s, as_user)
        f = add_finding(
            s,
            user,
            review_id,
            severity=severity,
            principle=principle,
            text=text,
            case_result_ids=case or [],
            ledger_seqs=ledger_seq or [],
        )
        console.print(f"finding {f.number} added to review {f.review_id}")


@app.command("action")
def review_action(
    review_id: str,
    as_user: AsUserRequired,
    text: Annotated[str, typer.Option(help="what must be done")],
    due: Annotated[str, typer.Option(help="due date, YYYY-MM-DD")],
    finding: Annotated[int | None, typer.Option(help="the finding number it answers")] = None,
) -> None:
    """Require an action by a date (supervisors)."""
    from finsandbox.supervision.reviews import add_action

    with open_session() as s:
        a = add_action(
            s, user_of(s, as_user), review_id, text=text, due_on=parse_date(due, "--due"), finding=finding
        )
        console.print(f"required action {a.number} added, due {a.due_on}")


@app.command("respond")
def review_respond(
    review_id: str,
    as_user: AsUserRequired,
    text: Annotated[str, typer.Option(help="the response")],
    finding: Annotated[int | None, typer.Option(help="the finding number")] = None,
    action: Annotated[int | None, typer.Option(help="the required action number")] = None,
) -> None:
    """Respond to a finding or a required action (workspace members)."""
    from finsandbox.supervision.reviews import respond

    with open_session() as s:
        respond(s, user_of(s, as_user), review_id, text=text, finding=finding, action=action)
        console.print("response recorded")


@app.command("resolve")
def review_resolve(
    review_id: str,
    as_user: AsUserRequired,
    note: Annotated[str, typer.Option(help="how it was resolved")],
    finding: Annotated[int | None, typer.Option(help="the finding number")] = None,
    action: Annotated[int | None, typer.Option(help="the required action number")] = None,
) -> None:
    """Mark a finding or a required action resolved (supervisors)."""
    from finsandbox.supervision.reviews import resolve

    with open_session() as s:
        resolve(s, user_of(s, as_user), review_id, note=note, finding=finding, action=action)
        console.print("marked resolved")


@app.command("decide")
def review_decide(
    review_id: str,
    decision: Annotated[str, typer.Argument(help="accepted, changes_requested or suspended")],
    as_user: AsUserRequired,
    note: Annotated[str, typer.Option(help="the reasons (required to accept)")] = "",
    override_reason: Annotated[
        str | None,
        typer.Option(help="accept despite open high/critical findings or required actions, for this reason"),
    ] = None,
) -> None:
    """Decide the review (supervisors); a later decision supersedes an earlier one."""
    from finsandbox.supervision.reviews import decide

    with open_session() as s:
        review = decide(
            s, user_of(s, as_user), review_id, decision=decision, note=note, override_reason=override_reason
        )
        console.print(f"review {review.id}: {review.status}")


@app.command("show")
def review_show(review_id: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """A review with its findings, actions and the whole thread."""
    from finsandbox.supervision.reviews import get_review, review_as_dict

    with open_session(write=False) as s:
        data = review_as_dict(get_review(s, review_id, user=user_of(s, as_user)))
    print_json(data) if as_json else _print_review(data)


@app.command("list")
def review_list(
    workspace: Annotated[str | None, typer.Option(help="only this workspace")] = None, as_user: AsUser = None
) -> None:
    """Reviews you may see, newest first."""
    from finsandbox.programme import get_workspace
    from finsandbox.supervision.reviews import list_reviews

    with open_session(write=False) as s:
        user = user_of(s, as_user)
        ws_id = get_workspace(s, workspace).id if workspace else None
        table(
            "reviews",
            ["id", "workspace", "title", "status", "findings", "opened"],
            [
                [r.id, r.workspace.slug, r.title, r.status, len(r.findings), r.created_at]
                for r in list_reviews(s, user=user, workspace_id=ws_id)
            ],
        )
