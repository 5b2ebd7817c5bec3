"""`finsandbox key`: virtual API keys of a workspace, printed once and hashed at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from finsandbox.cli._common import (
    actor,
    console,
    group,
    open_session,
    table,
)

app = group("Virtual API keys of a workspace.")


@app.command("create")
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
    with open_session() as s:
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


@app.command("list")
def key_list(workspace: str) -> None:
    from finsandbox.access import key_state, list_keys
    from finsandbox.programme import get_workspace

    with open_session(write=False) as s:
        keys = list_keys(s, get_workspace(s, workspace))
        table(
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


@app.command("revoke")
def key_revoke(prefix: str) -> None:
    """Revoke a key by its visible prefix (fsk_xxxxxxxx)."""
    from finsandbox.access import get_key, revoke_key

    with open_session() as s:
        key = revoke_key(s, get_key(s, prefix), actor=actor())
        console.print(f"key {key.prefix} revoked")
