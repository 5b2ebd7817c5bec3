"""The `finsandbox` command: one module per command group, each thin (parse, call a service, print).

This module only assembles the groups and turns user-facing errors into one line and exit status 1.
"""

from __future__ import annotations

import sys

import typer

from finsandbox.cli import (
    application,
    bundle,
    cohort,
    db,
    doctor,
    finetune,
    framework,
    guard,
    insights,
    job,
    key,
    ledger,
    plugins,
    programme,
    report,
    review,
    scorecard,
    serve,
    suite,
    trial,
)
from finsandbox.cli._common import console, err
from finsandbox.errors import FinsandboxError

app = typer.Typer(
    help="finsandbox: a GenAI sandbox for the finance sector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(programme.app, name="programme")
app.add_typer(key.app, name="key")
app.add_typer(ledger.app, name="ledger")
app.add_typer(db.app, name="db")
app.add_typer(trial.app, name="trial")
app.add_typer(suite.app, name="suite")
app.add_typer(guard.app, name="guard", help="Check text against a guard policy, without a server.")
app.add_typer(scorecard.app, name="scorecard")
app.add_typer(review.app, name="review")
app.add_typer(report.app, name="report")
app.add_typer(bundle.app, name="bundle")
app.add_typer(framework.app, name="framework")
app.add_typer(cohort.app, name="cohort")
app.add_typer(application.app, name="application")
app.add_typer(finetune.app, name="finetune")
app.add_typer(job.app, name="job")
app.command("insights")(insights.insights)
app.command("plugins")(plugins.plugins)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
app.command("doctor")(doctor.doctor)


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


__all__ = ["app", "console", "main"]
