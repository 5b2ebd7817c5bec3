"""`finsandbox bundle`: export a signed evidence bundle and verify one offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from finsandbox.cli._common import (
    AsUser,
    actor_of,
    console,
    err,
    group,
    open_session,
    user_of,
)

app = group("Signed evidence bundles: export and verify offline.")


@app.command("export")
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
    with open_session() as s:
        user = user_of(s, as_user)
        info = export_bundle(s, usecase, out, actor=actor_of(user), user=user, pdf=pdf)
    head = info.manifest["ledger_head"]
    console.print(
        f"bundle: {info.path} ({len(info.files)} files, ledger head {head['seq']}:{head['hash'][:16]}…)"
    )
    console.print(f"verify with: finsandbox bundle verify {info.path} --public-key {public_key_path()}")


@app.command("verify")
def bundle_verify(
    file: Path,
    public_key: Annotated[str, typer.Option(help="the programme's public key: a PEM file, or base64/hex")],
) -> None:
    """Check a bundle offline: signature, every file's digest, each ledger entry's inclusion proof in the
    signed checkpoint and the consistency proof from the checkpoint before. Exit 1 naming what fails."""
    from finsandbox.supervision.bundles import verify_bundle
    from finsandbox.supervision.keys import load_public_key

    check = verify_bundle(file, load_public_key(public_key))
    if check.ok:
        head = (check.manifest or {}).get("ledger_head", {})
        proven = check.checked[-1] if check.checked else ""
        console.print(
            f"bundle OK: signature valid, {len(check.checked) - 2} files check out; {proven} "
            f"(head {head.get('seq')}:{str(head.get('hash'))[:16]}…)",
            markup=False,
        )
        return
    err.print(f"bundle INVALID: {len(check.problems)} problem(s)", markup=False)
    for p in check.problems:
        err.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("public-key")
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
