"""`finsandbox insights`: anonymised aggregates across a cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    AsUser,
    JsonFlag,
    console,
    open_session,
    pct,
    print_json,
    table,
    user_of,
)


def insights(
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

    with open_session(write=False) as s:
        data = cohort_insights(s, cohort, user=user_of(s, as_user), k=k)
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
        print_json(data)
        return

    def fig(f: dict[str, Any]) -> list[Any]:
        if f["suppressed"]:
            return ["suppressed", "", "", ""]
        return [f["institutions"], pct(f["median"]), f"{pct(f['q1'])}-{pct(f['q3'])}", pct(f["mean"])]

    console.print(f"cohort {data['cohort']['name']}: {data['note']}")
    cols = ["institutions", "median", "interquartile", "mean"]
    table("by theme", ["theme", *cols], [[t, *fig(v["overall"])] for t, v in data["themes"].items()])
    table("by principle", ["principle", *cols], [[p, *fig(v)] for p, v in data["principles"].items()])
    for name, groups in data["practices"].items():
        table(f"practice: {name}", [name, *cols], [[g, *fig(v)] for g, v in groups.items()])
    table("trend", ["trial", *cols], [[t, *fig(v)] for t, v in data["trends"].items()])
    table(
        "most common findings",
        ["principle", "severity", "findings", "institutions"],
        [[f["principle"], f["severity"], f["findings"], f["institutions"]] for f in data["findings"]],
    )
