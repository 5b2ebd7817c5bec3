"""`finsandbox suite`: checks on suites themselves, such as whether they catch known defects."""

from __future__ import annotations

from typing import Annotated

import typer

from finsandbox.cli._common import JsonFlag, actor, console, group, pct, print_json, table

app = group("Suites: does a suite catch what it claims to measure?")


@app.command("check-sensitivity")
def check_sensitivity_cmd(
    suite: Annotated[str, typer.Argument(help="a reference theme name or a suite YAML path")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="the workspace slug")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="the clean endpoint to wrap")],
    defect: Annotated[
        list[str] | None, typer.Option("--defect", help="only these defects (repeatable; default: all)")
    ] = None,
    max_cases: Annotated[int | None, typer.Option(help="base cases per recipe")] = 12,
    max_variants: Annotated[int | None, typer.Option(help="attack variants per base case")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    as_json: JsonFlag = False,
) -> None:
    """Wrap the endpoint in each defect injector, run the suite on both, and report per defect
    whether the scorecard catches it at the right principle (model view, p < 0.05)."""
    from finsandbox.supervision.sensitivity import check_sensitivity

    report = check_sensitivity(
        workspace,
        endpoint,
        suite,
        actor=actor(),
        defects=defect or None,
        max_cases=max_cases,
        max_variants=max_variants,
        concurrency=concurrency,
        on_step=None if as_json else (lambda msg: console.print(f"[dim]running[/] {msg}")),
    )
    if as_json:
        print_json(report)
    else:
        table(
            f"sensitivity of {suite} on {workspace}/{endpoint} "
            f"({report['test']}, p < {report['significance']})",
            [
                "defect",
                "principle",
                "clean",
                "defective",
                "p",
                "caught",
                "residual",
                "guards caught",
                "trial",
            ],
            [
                [
                    r["defect"],
                    r["principle"],
                    pct(r["clean_inherent"]),
                    pct(r["defect_inherent"]),
                    "-" if r["p_value"] is None else f"{r['p_value']:.2g}",
                    ("yes" if r["caught"] else "NO") if r["evidenced"] else "not evidenced",
                    pct(r["defect_residual"]),
                    f"{r['guards_caught']} of {r['model_failures']}" if r["model_failures"] else "-",
                    r["trial_id"][:12],
                ]
                for r in report["defects"]
            ],
        )
        console.print(
            "every evidenced defect caught"
            if report["all_caught"]
            else "[red]some defects were not caught[/]"
        )
    if not report["all_caught"]:
        raise typer.Exit(1)
