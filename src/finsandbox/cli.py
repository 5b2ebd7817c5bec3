"""The `finsandbox` command: parses arguments, calls services, prints. No logic lives here."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.clitools import actor, console, err, table
from finsandbox.errors import FinsandboxError

app = typer.Typer(
    help="finsandbox: a GenAI sandbox for the finance sector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
programme_app = typer.Typer(
    help="Institutions, users, workspaces, members and endpoints.", no_args_is_help=True
)
key_app = typer.Typer(help="Virtual API keys of a workspace.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident audit ledger.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
trial_app = typer.Typer(
    help="Evaluation trials: suites of recipes run through the gateway.", no_args_is_help=True
)
app.add_typer(programme_app, name="programme")
app.add_typer(key_app, name="key")
app.add_typer(ledger_app, name="ledger")
app.add_typer(db_app, name="db")
app.add_typer(trial_app, name="trial")


def _mount_guard_cli() -> None:
    from finsandbox.guards.cli import app as guard_app

    app.add_typer(guard_app, name="guard", help="Check text against a guard policy, without a server.")


_mount_guard_cli()


def _mount_supervision_cli() -> None:
    from finsandbox.supervision import cli as sv

    app.add_typer(sv.scorecard_app, name="scorecard")
    app.add_typer(sv.review_app, name="review")
    app.add_typer(sv.report_app, name="report")
    app.add_typer(sv.bundle_app, name="bundle")
    app.add_typer(sv.framework_app, name="framework")
    app.add_typer(sv.cohort_app, name="cohort")
    app.command("insights")(sv.insights_command)


_mount_supervision_cli()


def _session(write: bool = True):  # type: ignore[no-untyped-def]
    from finsandbox.store import session_scope, upgrade

    upgrade()
    return session_scope(write=write)


_table = table


# --- db -----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    from finsandbox.config import get_settings
    from finsandbox.store import upgrade

    upgrade()
    console.print(f"database is up to date: {_safe_url(get_settings().resolved_database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- programme ----------------------------------------------------------------------------------

institution_app = typer.Typer(
    help="Banks, tech partners, the supervisor, the operator.", no_args_is_help=True
)
user_app = typer.Typer(help="People who sign in.", no_args_is_help=True)
workspace_app = typer.Typer(help="Admitted use cases and their isolated environments.", no_args_is_help=True)
member_app = typer.Typer(help="Who works in a workspace.", no_args_is_help=True)
endpoint_app = typer.Typer(help="Named model routes of a workspace.", no_args_is_help=True)
programme_app.add_typer(institution_app, name="institution")
programme_app.add_typer(user_app, name="user")
programme_app.add_typer(workspace_app, name="workspace")
programme_app.add_typer(member_app, name="member")
programme_app.add_typer(endpoint_app, name="endpoint")


def _mount_token_commands() -> None:
    from finsandbox.supervision.cli import user_token, user_token_revoke

    user_app.command("token")(user_token)
    user_app.command("revoke-token")(user_token_revoke)


_mount_token_commands()


def _mount_programme_cli() -> None:
    from finsandbox.programme import cli as pg

    app.add_typer(pg.application_app, name="application")
    workspace_app.command("state")(pg.workspace_state_command)


_mount_programme_cli()


@institution_app.command("add")
def institution_add(
    name: str,
    kind: Annotated[str, typer.Option(help="bank, tech_partner, supervisor or operator")],
) -> None:
    """Register an institution."""
    from finsandbox.access import create_institution

    with _session() as s:
        inst = create_institution(s, name=name, kind=kind, actor=actor())
        console.print(f"institution {inst.name!r} ({inst.kind}) created")


@institution_app.command("list")
def institution_list() -> None:
    from finsandbox.access import list_institutions

    with _session(write=False) as s:
        _table(
            "institutions",
            ["name", "kind", "created"],
            [[i.name, i.kind, i.created_at] for i in list_institutions(s)],
        )


@user_app.command("add")
def user_add(
    email: str,
    institution: Annotated[str, typer.Option(help="institution name")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    password: Annotated[
        str | None, typer.Option(help="password (prompted when omitted; or FINSANDBOX_NEW_PASSWORD)")
    ] = None,
) -> None:
    """Create a user; the programme role follows from the institution's kind."""
    from finsandbox.access import create_user, get_institution

    password = password or os.environ.get("FINSANDBOX_NEW_PASSWORD")
    if not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _session() as s:
        user = create_user(
            s,
            email=email,
            display_name=name,
            institution=get_institution(s, institution),
            password=password,
            actor=actor(),
        )
        console.print(f"user {user.email} ({user.role}) created")


@user_app.command("list")
def user_list() -> None:
    from finsandbox.access import list_users

    with _session(write=False) as s:
        _table(
            "users",
            ["email", "name", "institution", "role", "active"],
            [[u.email, u.display_name, u.institution.name, u.role, u.is_active] for u in list_users(s)],
        )


@workspace_app.command("create")
def workspace_create(
    slug: str,
    theme: Annotated[
        str, typer.Option(help="risk_management, anti_fraud, customer_service, process_reengineering")
    ],
    bank: Annotated[str, typer.Option(help="the owning bank's institution name")],
    name: Annotated[str, typer.Option(help="a human-readable title")] = "",
) -> None:
    """Create a workspace for an admitted use case."""
    from finsandbox.access import get_institution
    from finsandbox.programme import create_workspace

    with _session() as s:
        ws = create_workspace(
            s, slug=slug, name=name or slug, theme=theme, bank=get_institution(s, bank), actor=actor()
        )
        console.print(f"workspace {ws.slug} created for {ws.bank.name}")


@workspace_app.command("policy")
def workspace_policy(
    workspace: str,
    file: Annotated[Path | None, typer.Option(help="a guard policy YAML to install")] = None,
    default: Annotated[
        bool, typer.Option("--default", help="go back to the packaged default policy")
    ] = False,
) -> None:
    """Show, set (--file) or reset (--default) a workspace's guard policy."""
    from finsandbox.programme import get_workspace, set_guard_policy

    if file and default:
        raise FinsandboxError("give --file or --default, not both")
    text: str | None = None
    if file:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FinsandboxError(f"cannot read {file}: {exc}") from None
    with _session(write=bool(file or default)) as s:
        ws = get_workspace(s, workspace)
        if file or default:
            set_guard_policy(s, ws, text, actor=actor())
            console.print(
                f"guard policy of {workspace}: {'installed from ' + str(file) if file else 'default'}"
            )
            return
        if ws.guard_policy:
            print(ws.guard_policy, end="")
        else:
            from importlib.resources import files

            print(
                files("finsandbox.guards").joinpath("default_policy.yaml").read_text(encoding="utf-8"), end=""
            )


@workspace_app.command("list")
def workspace_list() -> None:
    from finsandbox.programme import list_workspaces

    with _session(write=False) as s:
        _table(
            "workspaces",
            ["slug", "name", "theme", "bank", "status"],
            [[w.slug, w.name, w.theme, w.bank.name, w.status] for w in list_workspaces(s)],
        )


@member_app.command("add")
def member_add(
    workspace: str,
    email: str,
    role: Annotated[str, typer.Option(help="owner, developer or viewer")] = "developer",
) -> None:
    """Add a bank or tech-partner user to a workspace."""
    from finsandbox.access import get_user
    from finsandbox.programme import add_member, get_workspace

    with _session() as s:
        m = add_member(s, get_workspace(s, workspace), get_user(s, email), role=role, actor=actor())
        console.print(f"{email} is now {m.role} of {workspace}")


@member_app.command("list")
def member_list(workspace: str) -> None:
    from finsandbox.programme import get_workspace, list_members

    with _session(write=False) as s:
        members = list_members(s, get_workspace(s, workspace))
        _table(
            f"members of {workspace}",
            ["email", "institution", "role", "since"],
            [[m.user.email, m.user.institution.name, m.role, m.created_at] for m in members],
        )


@endpoint_app.command("add")
def endpoint_add(
    workspace: str,
    name: str,
    backend: Annotated[str, typer.Option(help="llamacpp (embedded) or openai (any OpenAI-compatible URL)")],
    base_url: Annotated[
        str | None, typer.Option(help="openai: the upstream base URL, e.g. http://host:8000/v1")
    ] = None,
    model: Annotated[str | None, typer.Option(help="openai: the upstream model name")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="openai: env var holding the upstream key")] = None,
    model_path: Annotated[
        str | None, typer.Option(help="llamacpp: a GGUF file (default: bundled SmolLM2)")
    ] = None,
    contexts: Annotated[int | None, typer.Option(help="llamacpp: parallel contexts")] = None,
    customer_facing: Annotated[bool, typer.Option(help="replies must disclose AI use")] = False,
) -> None:
    """Bind a model name in a workspace to a backend."""
    from finsandbox.programme import add_endpoint, get_workspace

    config: dict[str, Any] = {
        k: v
        for k, v in {
            "base_url": base_url,
            "model": model,
            "api_key_env": api_key_env,
            "model_path": model_path,
            "contexts": contexts,
        }.items()
        if v is not None
    }
    with _session() as s:
        ep = add_endpoint(
            s,
            get_workspace(s, workspace),
            name=name,
            backend=backend,
            config=config,
            actor=actor(),
            customer_facing=customer_facing,
        )
        console.print(f"endpoint {ep.name} ({ep.backend}) added to {workspace}")


@endpoint_app.command("list")
def endpoint_list(workspace: str) -> None:
    from finsandbox.programme import get_workspace, list_endpoints
    from finsandbox.programme.workspaces import _public_config

    with _session(write=False) as s:
        ws = get_workspace(s, workspace)
        _table(
            f"endpoints of {workspace}",
            ["name", "backend", "config", "customer-facing", "canary"],
            [
                [e.name, e.backend, _public_config(e.config), e.customer_facing, e.canary]
                for e in list_endpoints(s, ws.id)
            ],
        )


# --- keys ---------------------------------------------------------------------------------------


@key_app.command("create")
def key_create(
    workspace: str,
    name: Annotated[str, typer.Option(help="what the key is for")],
    expires_in_days: Annotated[float | None, typer.Option(help="expire after this many days")] = None,
    rpm: Annotated[int | None, typer.Option(help="requests per minute")] = None,
    tpm: Annotated[int | None, typer.Option(help="tokens per minute")] = None,
    budget: Annotated[int | None, typer.Option(help="total token budget")] = None,
    quiet: Annotated[bool, typer.Option(help="print only the key")] = False,
) -> None:
    """Create a key; it is printed once and cannot be shown again."""
    from finsandbox.access import create_key
    from finsandbox.programme import get_workspace

    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days is not None else None
    with _session() as s:
        new = create_key(
            s,
            get_workspace(s, workspace),
            name=name,
            actor=actor(),
            expires_at=expires,
            rpm_limit=rpm,
            tpm_limit=tpm,
            token_budget=budget,
        )
    if quiet:
        print(new.secret)
        return
    console.print(f"key {new.key.prefix} created for {workspace}. Copy it now; it will not be shown again:")
    print(new.secret)


@key_app.command("list")
def key_list(workspace: str) -> None:
    from finsandbox.access import key_state, list_keys
    from finsandbox.programme import get_workspace

    with _session(write=False) as s:
        keys = list_keys(s, get_workspace(s, workspace))
        _table(
            f"keys of {workspace}",
            ["prefix", "name", "state", "rpm", "tpm", "budget", "used", "expires", "created by"],
            [
                [
                    k.prefix,
                    k.name,
                    key_state(k),
                    k.rpm_limit,
                    k.tpm_limit,
                    k.token_budget,
                    k.tokens_used,
                    k.expires_at,
                    k.created_by,
                ]
                for k in keys
            ],
        )


@key_app.command("revoke")
def key_revoke(prefix: str) -> None:
    """Revoke a key by its visible prefix (fsk_xxxxxxxx)."""
    from finsandbox.access import get_key, revoke_key

    with _session() as s:
        key = revoke_key(s, get_key(s, prefix), actor=actor())
        console.print(f"key {key.prefix} revoked")


# --- ledger -------------------------------------------------------------------------------------


@ledger_app.command("verify")
def ledger_verify(
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH recorded earlier; detects deletion of the newest entries")
    ] = None,
) -> None:
    """Recompute the chain; exit 1 naming the first entry that was edited, deleted, inserted or reordered."""
    from finsandbox import ledger

    anchored: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise FinsandboxError("--anchor must look like SEQ:HASH (a number, a colon, 64 hex digits)")
        anchored = (int(seq), digest)
    with _session(write=False) as s:
        report = ledger.verify(s, anchor=anchored)
    if report.ok:
        console.print(f"ledger OK: {report.entries} entries, head {report.head_seq}:{report.head_hash}")
        return
    err.print(f"ledger BROKEN: {report.first}")
    for p in report.problems[1:10]:
        err.print(f"  also: {p}")
    raise typer.Exit(1)


@ledger_app.command("head")
def ledger_head() -> None:
    """Print SEQ:HASH of the newest entry (keep it somewhere safe to anchor later verifications)."""
    from finsandbox import ledger

    with _session(write=False) as s:
        entry = ledger.head(s)
    print(f"{entry.seq}:{entry.entry_hash}" if entry else f"0:{ledger.GENESIS}")


@ledger_app.command("show")
def ledger_show(
    last: Annotated[int, typer.Option(help="how many of the newest entries")] = 20,
    kind: Annotated[str | None, typer.Option(help="only entries of this kind, e.g. gateway.chat")] = None,
) -> None:
    from sqlalchemy import select

    from finsandbox.store.models import LedgerEntry

    with _session(write=False) as s:
        q = select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(last)
        if kind:
            q = q.where(LedgerEntry.kind == kind)
        rows = list(s.scalars(q))
    _table(
        "ledger",
        ["seq", "time", "actor", "kind", "payload", "hash"],
        [[e.seq, e.ts, e.actor, e.kind, e.payload[:80], e.entry_hash[:16]] for e in reversed(rows)],
    )


# --- trials -------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _run_with_progress(trial_id: str, total_hint: int) -> Any:
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.evals.trials import run_trial

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("trial", total=total_hint, last="")

        def on_progress(done: int, total: int, result: Any) -> None:
            last = ""
            if result is not None:
                mark = "error" if result.error else ("pass" if result.passed else "fail")
                last = f"{result.recipe}/{result.case_id[:30]}: {mark}"
            progress.update(task, completed=done, total=total, last=last)

        return asyncio.run(run_trial(trial_id, actor=actor(), on_progress=on_progress))


def _print_summary(trial: Any) -> None:
    summary = trial.summary or {}
    console.print(
        f"trial [bold]{trial.id}[/] {trial.name!r}: {trial.status}, "
        f"{trial.done_cases}/{trial.total_cases} cases" + (f" — {trial.error}" if trial.error else "")
    )
    recipes = summary.get("recipes") or {}
    if recipes:
        _table(
            "by recipe",
            ["recipe", "theme", "cases", "passed", "pass rate", "blocked", "errors", "principles"],
            [
                [
                    k,
                    v["theme"],
                    v["n"],
                    v["passed"],
                    _pct(v["pass_rate"]),
                    v["blocked"],
                    v["errors"],
                    ", ".join(v["principles"]),
                ]
                for k, v in recipes.items()
            ],
        )
    for title, key in (("by principle", "principles"), ("by theme", "themes")):
        data = summary.get(key) or {}
        if data:
            _table(
                title,
                [key[:-1], "cases", "passed", "pass rate"],
                [[k, v["n"], v["passed"], _pct(v["pass_rate"])] for k, v in data.items()],
            )


@trial_app.command("run")
def trial_run(
    workspace: Annotated[str, typer.Option(help="the workspace the trial runs for")],
    endpoint: Annotated[str, typer.Option(help="the endpoint under test")],
    suite: Annotated[
        list[str], typer.Option(help="a reference use case (theme) or a suite YAML; repeatable")
    ],
    recipe: Annotated[list[str] | None, typer.Option(help="only these recipes; repeatable")] = None,
    max_cases: Annotated[int | None, typer.Option(help="at most this many base cases per recipe")] = None,
    max_variants: Annotated[
        int | None, typer.Option(help="at most this many attack variants per base case (a seeded sample)")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="max_tokens of each model call")] = 256,
    seed: Annotated[int, typer.Option(help="seed for attacks and generation")] = 0,
    concurrency: Annotated[int, typer.Option(help="cases in flight")] = 4,
    executor: Annotated[str, typer.Option(help="local or ray")] = "local",
    name: Annotated[str | None, typer.Option(help="a name for the trial")] = None,
    external_url: Annotated[
        str | None, typer.Option(help="test an external app (JSON in/out) instead")
    ] = None,
    gateway_url: Annotated[
        str | None, typer.Option(help="a running gateway (…/v1); default: an in-process gateway")
    ] = None,
    judge_endpoint: Annotated[str | None, typer.Option(help="endpoint used by llm_judge scorers")] = None,
) -> None:
    """Create a trial and run it with live progress; Ctrl-C leaves it resumable."""
    from finsandbox.evals.trials import create_trial

    with _session() as s:
        trial = create_trial(
            s,
            workspace=workspace,
            endpoint=endpoint,
            suites=suite,
            actor=actor(),
            name=name,
            recipes=recipe,
            max_cases=max_cases,
            max_variants=max_variants,
            max_tokens=max_tokens,
            seed=seed,
            concurrency=concurrency,
            executor=executor,
            external_url=external_url,
            gateway_url=gateway_url,
            judge_endpoint=judge_endpoint,
        )
        trial_id, total = trial.id, trial.total_cases
    console.print(f"trial {trial_id} created with {total} cases")
    _print_summary(_run_with_progress(trial_id, total))


@trial_app.command("resume")
def trial_resume(trial_id: str) -> None:
    """Continue an interrupted trial; finished cases are not run again."""
    with _session(write=False) as s:
        from finsandbox.evals.trials import get_trial

        trial = get_trial(s, trial_id)
        trial_id, total = trial.id, trial.total_cases
    _print_summary(_run_with_progress(trial_id, total))


@trial_app.command("list")
def trial_list(workspace: Annotated[str | None, typer.Option(help="only this workspace")] = None) -> None:
    from finsandbox.evals.trials import list_trials
    from finsandbox.programme import get_workspace

    with _session(write=False) as s:
        ws_id = get_workspace(s, workspace).id if workspace else None
        _table(
            "trials",
            ["id", "workspace", "name", "status", "cases", "created"],
            [
                [t.id, t.workspace.slug, t.name, t.status, f"{t.done_cases}/{t.total_cases}", t.created_at]
                for t in list_trials(s, ws_id)
            ],
        )


@trial_app.command("show")
def trial_show(
    trial_id: str,
    failures: Annotated[int, typer.Option(help="show up to this many failing cases")] = 5,
) -> None:
    """Summary by recipe, principle and theme, and the first failing cases."""
    from finsandbox.evals.trials import get_trial, results

    with _session(write=False) as s:
        trial = get_trial(s, trial_id)
        _print_summary(trial)
        failing = [r for r in results(s, trial.id) if r.passed is False][:failures]
        for r in failing:
            why = r.error or "; ".join(
                f"{x['scorer']}: {x.get('explanation', '')}" for x in r.scores if x.get("passed") is False
            )
            console.print(f"[red]fail[/] {r.item}: {why[:200]}")


@trial_app.command("rescore")
def trial_rescore(trial_id: str) -> None:
    """Recompute scores from stored outputs (no model is called) and make a new score version."""
    from finsandbox.evals.trials import rescore
    from finsandbox.store import upgrade

    upgrade()
    trial = rescore(trial_id, actor=actor())
    console.print(f"trial {trial.id} rescored: score version {trial.score_version}")
    _print_summary(trial)


@trial_app.command("export")
def trial_export(
    trial_id: str,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default stdout)")
    ] = None,
) -> None:
    from finsandbox.evals.trials import export

    with _session(write=False) as s:
        text = export(s, trial_id, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@trial_app.command("cancel")
def trial_cancel(trial_id: str) -> None:
    """Ask a running trial to stop after its cases in flight."""
    from finsandbox.evals.trials import request_cancel

    with _session() as s:
        trial = request_cancel(s, trial_id, actor=actor())
        console.print(f"trial {trial.id}: {trial.status}")


# --- serve and demo -----------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default FINSANDBOX_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default FINSANDBOX_PORT)")] = None,
    workers: Annotated[
        int, typer.Option(help="server processes; quotas and the ledger hold across them")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the gateway (and the API) with uvicorn."""
    import uvicorn

    from finsandbox.config import get_settings
    from finsandbox.store import upgrade

    settings = get_settings()
    upgrade()
    uvicorn.run(
        "finsandbox.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=log_level,
    )


@app.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving after the demo")] = True,
    port: Annotated[int | None, typer.Option(help="port (default FINSANDBOX_PORT)")] = None,
    trials: Annotated[
        bool, typer.Option("--trials/--no-trials", help="run the four reference trials")
    ] = True,
) -> None:
    """Set up the demo programme, call the embedded model through the gateway, run the reference trials."""
    from finsandbox.demo import run_demo

    run_demo(console, serve=serve, port=port, trials=trials)


def main() -> None:
    """Entry point: user-facing errors become one line on stderr and exit status 1."""
    from sqlalchemy.exc import OperationalError

    def fail(message: str) -> None:
        # One line whatever the terminal width, and no markup: messages quote user input verbatim.
        err.print(f"error: {message}", soft_wrap=True, markup=False, highlight=False)
        sys.exit(1)

    try:
        app()
    except FinsandboxError as exc:
        fail(exc.message)
    except OperationalError as exc:
        fail(f"the database cannot be used: {str(exc.orig).strip().splitlines()[0]}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
