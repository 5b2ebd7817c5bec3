"""`finsandbox report`: exit reports of use cases as HTML and PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finsandbox.cli._common import (
    AsUser,
    console,
    group,
    open_session,
    user_of,
)

app = group("Exit reports of use cases (HTML and PDF).")


@app.command("exit")
def report_exit(
    usecase: Annotated[str, typer.Argument(help="the use case (workspace slug)")],
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="also render the PDF")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write into")] = Path("."),
    as_user: AsUser = None,
) -> None:
    """Write the exit report of a use case as HTML (and PDF with --pdf)."""
    from finsandbox.supervision.exit_report import write_exit_report

    with open_session(write=False) as s:
        paths = write_exit_report(s, usecase, output, user=user_of(s, as_user), pdf=pdf)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
