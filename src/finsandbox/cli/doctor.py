"""`finsandbox doctor`: check this machine, one line per check saying ok or what to do."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from finsandbox.cli._common import console

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="run only this check (repeatable): cpu, model, database, redis, chromium, disk, port",
        ),
    ] = None,
) -> None:
    """Check the CPU against the llama.cpp build, the embedded model, the database, Redis, Chromium,
    disk and port; exit status 1 if anything must be fixed."""
    from finsandbox.doctor import run_checks

    findings = run_checks(check)
    width = max(len(f.check) for f in findings)
    for finding in findings:
        line = Text()
        line.append(f"{finding.status:<5}", style=STYLE[finding.status])
        line.append(f"{finding.check:<{width}}  {finding.message}")
        console.print(line, soft_wrap=True, highlight=False)
    if any(f.status == "fail" for f in findings):
        raise typer.Exit(1)
