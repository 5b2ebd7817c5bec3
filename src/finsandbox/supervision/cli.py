"""Supervision commands: scorecards, reviews, exit reports, bundles, insights, frameworks, cohorts, tokens.

Mounted by `finsandbox.cli`. Commands that act for a person take `--as EMAIL` (or FINSANDBOX_USER)
and go through the same authorisation as the API; read-only commands without `--as` run as the
local operator of the installation, who can read everything on this machine anyway.
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
from rich.console import Console
from sqlalchemy.orm import Session

from finsandbox.clitools import actor, console, table
from finsandbox.errors import InvalidRequest
from finsandbox.programme.cli import cohort_app  # the cohort commands live with the programme

scorecard_app = typer.Typer(help="Trial scorecards by principle: build, show, compare.", no_args_is_help=True)
review_app = typer.Typer(
    help="Supervisor reviews: findings, required actions, responses, decisions.", no_args_is_help=True
)
report_app = typer.Typer(help="Exit reports of use cases (HTML and PDF).", no_args_is_help=True)
bundle_app = typer.Typer(help="Signed evidence bundles: export and verify offline.", no_args_is_help=True)
framework_app = typer.Typer(help="The regulator's framework of principles.", no_args_is_help=True)

AsUser = Annotated[
    str | None,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
AsUserRequired = Annotated[
    str,
    typer.Option("--as", envvar="FINSANDBOX_USER", help="act as this user (email); authorisation applies"),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


_cli_actor = actor


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
    return f"user:{user.email}" if user is not None else _cli_actor()


_table = table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"{100 * ci[0]:.0f}-{100 * ci[1]:.0f}%"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{option} must be a date like 2026-12-31, not {value!r}") from None


# --- scorecards ---------------------------------------------------------------------------------


def _print_scorecard(card: Any) -> None:
    d = card.data
    o = d["overall"]
    console.print(
        f"scorecard [bold]{card.id}[/] v{card.version} of trial {card.trial_id} ({d['trial']['name']}), "
        f"framework {d['framework']['name']} {d['framework']['version']}, "
        f"score version {card.score_version}: "
        f"overall {_pct(o['pass_rate'])} ({_ci(o['ci'])}), grade {o['grade'] or '-'}"
    )
    _table(
        "by principle",
        ["principle", "cases", "pass rate", "95% interval", "threshold", "meets", "grade"],
        [
            [
                pid,
                p["judged"],
                _pct(p["pass_rate"]),
                _ci(p["ci"]),
                _pct(p["threshold"]),
                p["meets"],
                p["grade"],
            ]
            if p["evidenced"]
            else [pid, "-", "not evidenced", "", "", "", ""]
            for pid, p in d["principles"].items()
        ],
    )
    _table(
        "by recipe",
        ["recipe", "cases", "pass rate", "95% interval", "grade", "blocked", "errors"],
        [
            [k, r["judged"], _pct(r["pass_rate"]), _ci(r["ci"]), r["grade"], r["blocked"], r["errors"]]
            for k, r in d["recipes"].items()
        ],
    )
    g = d["guards"]
    console.print(
        f"guards: {g['calls']} calls, {g['blocked']} blocked, {g['redacted']} redacted"
        + (f"; entity types {g['entity_types']}" if g["entity_types"] else "")
    )
    for key, r in d["recipes"].items():
        for w in r["worst"][:2]:
            console.print(
                f"[red]worst[/] {key} {w['case_id']} ({w['case_result_id'][:12]}): "
                + "; ".join(w["reasons"])[:160]
            )


@scorecard_app.command("build")
def scorecard_build(
    trial_id: str,
    framework: Annotated[
        Path | None, typer.Option(help="a framework YAML (default: the programme's)")
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Build the trial's scorecard; a new version only when the scores or the framework changed."""
    from finsandbox.supervision.framework import load_framework
    from finsandbox.supervision.scorecards import build_scorecard

    fw = load_framework(framework) if framework else None
    with _session() as s:
        user = _user(s, as_user)
        card, created = build_scorecard(s, trial_id, actor=_actor(user), user=user, framework=fw)
        console.print(
            f"scorecard version {card.version} {'created' if created else 'is current (unchanged)'}"
        )
        _print_scorecard(card)


@scorecard_app.command("show")
def scorecard_show(
    trial_id: str,
    version: Annotated[int | None, typer.Option(help="an older version (default: the latest)")] = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Show a trial's scorecard (building the first version if there is none yet)."""
    from finsandbox.errors import NotFound
    from finsandbox.supervision.scorecards import build_scorecard, scorecard_version

    with _session() as s:
        user = _user(s, as_user)
        try:
            card = scorecard_version(s, trial_id, version, user=user)
        except NotFound:
            if version is not None:
                raise
            card, _ = build_scorecard(s, trial_id, actor=_actor(user), user=user)
        if as_json:
            _print_json({"id": card.id, "version": card.version, **card.data})
        else:
            _print_scorecard(card)


@scorecard_app.command("list")
def scorecard_list(trial_id: str, as_user: AsUser = None) -> None:
    """Every version of a trial's scorecard."""
    from finsandbox.supervision.scorecards import list_scorecards

    with _session(write=False) as s:
        cards = list_scorecards(s, trial_id, user=_user(s, as_user))
        _table(
            f"scorecards of trial {trial_id}",
            ["id", "version", "framework", "score version", "overall", "grade", "created"],
            [
                [
                    c.id,
                    c.version,
                    c.framework_name,
                    c.score_version,
                    _pct(c.data["overall"]["pass_rate"]),
                    c.data["overall"]["grade"],
                    c.created_at,
                ]
                for c in cards
            ],
        )


@scorecard_app.command("compare")
def scorecard_compare(trial_a: str, trial_b: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """What got better or worse from trial A to trial B, and whether it is beyond noise."""
    from finsandbox.supervision.scorecards import compare_trials

    with _session() as s:
        user = _user(s, as_user)
        result = compare_trials(s, trial_a, trial_b, user=user, actor=_actor(user))
    if as_json:
        _print_json(result)
        return
    for title, key in (("by principle", "principles"), ("by recipe", "recipes")):
        _table(
            f"{title} ({result['test']}, p < {result['significance']})",
            ["name", "before", "after", "change", "p", "verdict"],
            [
                [
                    c["name"],
                    _pct(c["before"]),
                    _pct(c["after"]),
                    "-" if c["delta"] is None else f"{100 * c['delta']:+.0f} pts",
                    "-" if c["p_value"] is None else f"{c['p_value']:.3f}",
                    c["verdict"],
                ]
                for c in result[key]
                if c["verdict"] != "no data"
            ],
        )
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"better: {', '.join(result['better']) or 'nothing'}; "
        f"worse: {', '.join(result['worse']) or 'nothing'}"
    )


# --- reviews ------------------------------------------------------------------------------------


def _print_review(data: dict[str, Any]) -> None:
    console.print(
        f"review [bold]{data['id']}[/] {data['title']!r} on scorecard {data['scorecard']['id'][:12]} "
        f"v{data['scorecard']['version']} ({data['workspace']}): [bold]{data['status']}[/]"
    )
    if data["findings"]:
        _table(
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
        _table(
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


@review_app.command("open")
def review_open(
    scorecard_id: str,
    as_user: AsUserRequired,
    title: Annotated[str | None, typer.Option(help="a title for the review")] = None,
) -> None:
    """Open a review on one scorecard version (supervisors)."""
    from finsandbox.supervision.reviews import open_review

    with _session() as s:
        review = open_review(s, _user(s, as_user), scorecard_id, title=title)
        console.print(f"review {review.id} opened")
        print(review.id)


@review_app.command("finding")
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

    with _session() as s:
        user = _user(s, as_user)
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


@review_app.command("action")
def review_action(
    review_id: str,
    as_user: AsUserRequired,
    text: Annotated[str, typer.Option(help="what must be done")],
    due: Annotated[str, typer.Option(help="due date, YYYY-MM-DD")],
    finding: Annotated[int | None, typer.Option(help="the finding number it answers")] = None,
) -> None:
    """Require an action by a date (supervisors)."""
    from finsandbox.supervision.reviews import add_action

    with _session() as s:
        a = add_action(
            s, _user(s, as_user), review_id, text=text, due_on=_date(due, "--due"), finding=finding
        )
        console.print(f"required action {a.number} added, due {a.due_on}")


@review_app.command("respond")
def review_respond(
    review_id: str,
    as_user: AsUserRequired,
    text: Annotated[str, typer.Option(help="the response")],
    finding: Annotated[int | None, typer.Option(help="the finding number")] = None,
    action: Annotated[int | None, typer.Option(help="the required action number")] = None,
) -> None:
    """Respond to a finding or a required action (workspace members)."""
    from finsandbox.supervision.reviews import respond

    with _session() as s:
        respond(s, _user(s, as_user), review_id, text=text, finding=finding, action=action)
        console.print("response recorded")


@review_app.command("resolve")
def review_resolve(
    review_id: str,
    as_user: AsUserRequired,
    note: Annotated[str, typer.Option(help="how it was resolved")],
    finding: Annotated[int | None, typer.Option(help="the finding number")] = None,
    action: Annotated[int | None, typer.Option(help="the required action number")] = None,
) -> None:
    """Mark a finding or a required action resolved (supervisors)."""
    from finsandbox.supervision.reviews import resolve

    with _session() as s:
        resolve(s, _user(s, as_user), review_id, note=note, finding=finding, action=action)
        console.print("marked resolved")


@review_app.command("decide")
def review_decide(
    review_id: str,
    decision: Annotated[str, typer.Argument(help="accepted, changes_requested or suspended")],
    as_user: AsUserRequired,
    note: Annotated[str, typer.Option(help="the reasons")] = "",
) -> None:
    """Decide the review (supervisors); a later decision supersedes an earlier one."""
    from finsandbox.supervision.reviews import decide

    with _session() as s:
        review = decide(s, _user(s, as_user), review_id, decision=decision, note=note)
        console.print(f"review {review.id}: {review.status}")


@review_app.command("show")
def review_show(review_id: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """A review with its findings, actions and the whole thread."""
    from finsandbox.supervision.reviews import get_review, review_as_dict

    with _session(write=False) as s:
        data = review_as_dict(get_review(s, review_id, user=_user(s, as_user)))
    _print_json(data) if as_json else _print_review(data)


@review_app.command("list")
def review_list(
    workspace: Annotated[str | None, typer.Option(help="only this workspace")] = None, as_user: AsUser = None
) -> None:
    """Reviews you may see, newest first."""
    from finsandbox.programme import get_workspace
    from finsandbox.supervision.reviews import list_reviews

    with _session(write=False) as s:
        user = _user(s, as_user)
        ws_id = get_workspace(s, workspace).id if workspace else None
        _table(
            "reviews",
            ["id", "workspace", "title", "status", "findings", "opened"],
            [
                [r.id, r.workspace.slug, r.title, r.status, len(r.findings), r.created_at]
                for r in list_reviews(s, user=user, workspace_id=ws_id)
            ],
        )


# --- exit reports and bundles -------------------------------------------------------------------


def write_exit_report(
    session: Session, workspace: str, output: Path, *, user: Any = None, pdf: bool = True
) -> dict[str, Path]:
    """Render a use case's exit report into `output` as HTML (and PDF); returns the paths."""
    from finsandbox.reports.exit_report import exit_report_context, render_exit_html, render_pdf

    html = render_exit_html(exit_report_context(session, workspace, user=user))
    output.mkdir(parents=True, exist_ok=True)
    paths = {"html": output / f"exit-report-{workspace}.html"}
    paths["html"].write_text(html, encoding="utf-8")
    if pdf:
        paths["pdf"] = output / f"exit-report-{workspace}.pdf"
        paths["pdf"].write_bytes(render_pdf(html))
    return paths


@report_app.command("exit")
def report_exit(
    usecase: Annotated[str, typer.Argument(help="the use case (workspace slug)")],
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also render the PDF")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write into")] = Path("."),
    as_user: AsUser = None,
) -> None:
    """Write the exit report of a use case as HTML (and PDF with --pdf)."""
    with _session(write=False) as s:
        paths = write_exit_report(s, usecase, output, user=_user(s, as_user), pdf=pdf)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")


@bundle_app.command("export")
def bundle_export(
    usecase: Annotated[str, typer.Argument(help="the use case (workspace slug)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="the .zip to write")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="include the PDF report")] = True,
    as_user: AsUser = None,
) -> None:
    """Export the signed evidence bundle of a use case."""
    from finsandbox.supervision.bundles import export_bundle
    from finsandbox.supervision.keys import public_key_path

    out = output or Path(f"evidence-{usecase}.zip")
    with _session() as s:
        user = _user(s, as_user)
        info = export_bundle(s, usecase, out, actor=_actor(user), user=user, pdf=pdf)
    head = info.manifest["ledger_head"]
    console.print(
        f"bundle: {info.path} ({len(info.files)} files, ledger head {head['seq']}:{head['hash'][:16]}…)"
    )
    console.print(f"verify with: finsandbox bundle verify {info.path} --public-key {public_key_path()}")


@bundle_app.command("verify")
def bundle_verify(
    file: Path,
    public_key: Annotated[str, typer.Option(help="the programme's public key: a PEM file, or base64/hex")],
) -> None:
    """Check a bundle offline: signature, every file's digest, the ledger chain. Exit 1 naming what fails."""
    from finsandbox.supervision.bundles import verify_bundle
    from finsandbox.supervision.keys import load_public_key

    check = verify_bundle(file, load_public_key(public_key))
    if check.ok:
        head = (check.manifest or {}).get("ledger_head", {})
        console.print(
            f"bundle OK: signature valid, {len(check.checked) - 1} files and the ledger chain check out "
            f"(head {head.get('seq')}:{str(head.get('hash'))[:16]}…)"
        )
        return
    err = Console(stderr=True)
    err.print(f"bundle INVALID: {len(check.problems)} problem(s)", markup=False)
    for p in check.problems:
        err.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@bundle_app.command("public-key")
def bundle_public_key(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the PEM here")] = None,
) -> None:
    """Print the programme's public key (made with the signing key on first use)."""
    from finsandbox.supervision import keys

    pem = keys.public_bytes(keys.ensure_key().public_key())
    if output:
        output.write_bytes(pem)
        console.print(f"public key {keys.key_id(keys.load_public_key(output))} written to {output}")
    else:
        sys.stdout.write(pem.decode())


# --- insights -----------------------------------------------------------------------------------


def insights_command(
    cohort: Annotated[str, typer.Argument(help="the cohort name")],
    k: Annotated[
        int | None, typer.Option("--k", help="minimum institutions per figure (only raises it)")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="write an HTML report here")] = None,
    pdf: Annotated[Path | None, typer.Option(help="write a PDF report here")] = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Anonymised aggregates across a cohort; no figure about fewer than k institutions."""
    from finsandbox.supervision.insights import cohort_insights, render_insights_html

    with _session(write=False) as s:
        data = cohort_insights(s, cohort, user=_user(s, as_user), k=k)
    if html or pdf:
        page = render_insights_html(data)
        if html:
            html.write_text(page, encoding="utf-8")
            console.print(f"html: {html}")
        if pdf:
            from finsandbox.reports.render import render_pdf

            pdf.write_bytes(render_pdf(page))
            console.print(f"pdf: {pdf}")
    if as_json:
        _print_json(data)
        return

    def fig(f: dict[str, Any]) -> list[Any]:
        if f["suppressed"]:
            return ["suppressed", "", "", ""]
        return [f["institutions"], _pct(f["median"]), f"{_pct(f['q1'])}-{_pct(f['q3'])}", _pct(f["mean"])]

    console.print(f"cohort {data['cohort']['name']}: {data['note']}")
    cols = ["institutions", "median", "interquartile", "mean"]
    _table("by theme", ["theme", *cols], [[t, *fig(v["overall"])] for t, v in data["themes"].items()])
    _table("by principle", ["principle", *cols], [[p, *fig(v)] for p, v in data["principles"].items()])
    for name, groups in data["practices"].items():
        _table(f"practice: {name}", [name, *cols], [[g, *fig(v)] for g, v in groups.items()])
    _table("trend", ["trial", *cols], [[t, *fig(v)] for t, v in data["trends"].items()])
    _table(
        "most common findings",
        ["principle", "severity", "findings", "institutions"],
        [[f["principle"], f["severity"], f["findings"], f["institutions"]] for f in data["findings"]],
    )


# --- frameworks ---------------------------------------------------------------------------------


@framework_app.command("show")
def framework_show(
    framework: Annotated[
        Path | None, typer.Option(help="a framework YAML (default: the programme's)")
    ] = None,
) -> None:
    """The principles, what evidences them, thresholds and grades."""
    from finsandbox.supervision.framework import load_framework

    fw = load_framework(framework)
    f = fw.framework
    console.print(f"{f.title or f.name} ({f.name} {f.version}) from {fw.path}, digest {fw.digest[:16]}…")
    _table(
        "principles",
        ["id", "name", "threshold", "evidenced by"],
        [[p.id, p.name, _pct(f.threshold(p.id)), "; ".join(p.evidence)] for p in f.principles],
    )
    console.print("grades: " + ", ".join(f"{b.grade} ≥ {_pct(b.min)}" for b in f.grades))


@framework_app.command("check")
def framework_check(
    suite: Annotated[list[str], typer.Option(help="a reference use case (theme) or suite YAML; repeatable")],
    framework: Annotated[
        Path | None, typer.Option(help="a framework YAML (default: the programme's)")
    ] = None,
    theme: Annotated[list[str] | None, typer.Option(help="themes that must be covered; repeatable")] = None,
) -> None:
    """Check that every principle is evidenced by at least one recipe of each theme; exit 1 naming gaps."""
    from finsandbox.evals.plan import load
    from finsandbox.supervision.framework import coverage, load_framework

    fw = load_framework(framework)
    cov = coverage(fw.framework, [load(ref).suite for ref in suite], themes=theme)
    for t in cov.themes:
        _table(
            f"theme {t}",
            ["principle", "recipes"],
            [
                [
                    pid,
                    ", ".join(cov.evidenced[t].get(pid, []))
                    or (
                        "the programme (roles, sign-off, ledger)"
                        if fw.framework.principle(pid).evidenced_by == "programme"
                        else "[red]none[/]"
                    ),
                ]
                for pid in fw.framework.ids
            ],
        )
    if cov.ok:
        console.print(f"every principle of {fw.name} is evidenced in every theme")
        return
    err = Console(stderr=True)
    for m in cov.messages():
        err.print(m, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


# --- personal API tokens (mounted under `programme user`) ----------------------------------------


def user_token(
    email: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    quiet: Annotated[bool, typer.Option(help="print only the token")] = False,
) -> None:
    """Issue a personal API token (fsu_…) for a user; it is printed once."""
    from finsandbox.access import get_user
    from finsandbox.access.tokens import create_token

    with _session() as s:
        new = create_token(s, get_user(s, email), name=name, actor=_cli_actor())
    if not quiet:
        console.print(
            f"token {new.token.prefix} created for {email}. Copy it now; it will not be shown again:"
        )
    print(new.secret)


def user_token_revoke(prefix: str) -> None:
    """Revoke a personal API token by its prefix (fsu_xxxxxxxx)."""
    from finsandbox.access.tokens import revoke_token

    with _session() as s:
        token = revoke_token(s, prefix, actor=_cli_actor())
        console.print(f"token {token.prefix} revoked")


__all__ = [
    "bundle_app",
    "cohort_app",
    "framework_app",
    "insights_command",
    "report_app",
    "review_app",
    "scorecard_app",
    "user_token",
    "user_token_revoke",
    "write_exit_report",
]
