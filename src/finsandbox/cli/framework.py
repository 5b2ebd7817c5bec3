"""`finsandbox framework`: the regulator's framework of principles, and coverage checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finsandbox.cli._common import (
    console,
    err,
    group,
    pct,
    table,
)

app = group("The regulator's framework of principles.")


@app.command("show")
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
    table(
        "principles",
        ["id", "name", "threshold", "evidenced by"],
        [[p.id, p.name, pct(f.threshold(p.id)), "; ".join(p.evidence)] for p in f.principles],
    )
    console.print("grades: " + ", ".join(f"{b.grade} ≥ {pct(b.min)}" for b in f.grades))


@app.command("check")
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
        table(
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
    for m in cov.messages():
        err.print(m, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
