"""`finsandbox programme`: institutions, users (and their API tokens), workspaces, members, endpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    actor,
    console,
    group,
    open_session,
    print_json,
    table,
    user_of,
)
from finsandbox.errors import FinsandboxError, InvalidRequest

app = group("Institutions, users, workspaces, members and endpoints.")


institution_app = group("Banks, tech partners, the supervisor, the operator.")
user_app = group("People who sign in.")
workspace_app = group("Admitted use cases and their isolated environments.")
member_app = group("Who works in a workspace.")
endpoint_app = group("Named model routes of a workspace.")
app.add_typer(institution_app, name="institution")
app.add_typer(user_app, name="user")
app.add_typer(workspace_app, name="workspace")
app.add_typer(member_app, name="member")
app.add_typer(endpoint_app, name="endpoint")


@institution_app.command("add")
def institution_add(
    name: str,
    kind: Annotated[str, typer.Option(help="bank, tech_partner, supervisor or operator")],
) -> None:
    """Register an institution."""
    from finsandbox.access import create_institution

    with open_session() as s:
        inst = create_institution(s, name=name, kind=kind, actor=actor())
        console.print(f"institution {inst.name!r} ({inst.kind}) created")


@institution_app.command("list")
def institution_list() -> None:
    from finsandbox.access import list_institutions

    with open_session(write=False) as s:
        table(
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
    with open_session() as s:
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

    with open_session(write=False) as s:
        table(
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

    with open_session() as s:
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
    with open_session(write=bool(file or default)) as s:
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

    with open_session(write=False) as s:
        table(
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

    with open_session() as s:
        m = add_member(s, get_workspace(s, workspace), get_user(s, email), role=role, actor=actor())
        console.print(f"{email} is now {m.role} of {workspace}")


@member_app.command("list")
def member_list(workspace: str) -> None:
    from finsandbox.programme import get_workspace, list_members

    with open_session(write=False) as s:
        members = list_members(s, get_workspace(s, workspace))
        table(
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
    contexts: Annotated[
        int | None, typer.Option(help="llamacpp: worker processes, each answering one request at a time")
    ] = None,
    gpu_layers: Annotated[
        int | None, typer.Option(help="llamacpp: layers on the GPU of a CUDA or Metal build (-1: all)")
    ] = None,
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
            "gpu_layers": gpu_layers,
        }.items()
        if v is not None
    }
    with open_session() as s:
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
    from finsandbox.programme.workspaces import public_config

    with open_session(write=False) as s:
        ws = get_workspace(s, workspace)
        table(
            f"endpoints of {workspace}",
            ["name", "backend", "config", "customer-facing", "canary"],
            [
                [e.name, e.backend, public_config(e.config), e.customer_facing, e.canary]
                for e in list_endpoints(s, ws.id)
            ],
        )


@workspace_app.command("state")
def workspace_state(
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

    with open_session(write=to is not None) as s:
        user = user_of(s, as_user)
        ws = get_workspace(s, workspace, user=user)
        if to is not None:
            if user is None:
                raise InvalidRequest("say who moves the use case with --as EMAIL", param="as")
            before = lifecycle.change_state(s, user, ws, to, note=note)
            console.print(f"{ws.slug}: {lifecycle.label(before)} -> {lifecycle.label(to)}")
        data = lifecycle.workspace_state(s, ws)
    if as_json:
        print_json(data)
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


@user_app.command("token")
def user_token(
    email: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    quiet: Annotated[bool, typer.Option(help="print only the token")] = False,
    scope: Annotated[
        list[str] | None, typer.Option(help="read and/or write (repeat it); default both")
    ] = None,
) -> None:
    """Issue a personal API token (fsu_…) for a user; it is printed once."""
    from finsandbox.access import get_user
    from finsandbox.access.tokens import SCOPES, create_token

    with open_session() as s:
        new = create_token(s, get_user(s, email), name=name, actor=actor(), scopes=scope or SCOPES)
    if not quiet:
        console.print(
            f"token {new.token.prefix} created for {email}. Copy it now; it will not be shown again:"
        )
    print(new.secret)


@user_app.command("revoke-token")
def user_token_revoke(prefix: str) -> None:
    """Revoke a personal API token by its prefix (fsu_xxxxxxxx)."""
    from finsandbox.access.tokens import revoke_token

    with open_session() as s:
        token = revoke_token(s, prefix, actor=actor())
        console.print(f"token {token.prefix} revoked")
