"""`finsandbox serve` and `finsandbox demo`: run the server, or set up and show the demo programme."""

from __future__ import annotations

from typing import Annotated

import typer

from finsandbox.cli._common import (
    console,
)


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default FINSANDBOX_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default FINSANDBOX_PORT)")] = None,
    workers: Annotated[
        int, typer.Option(help="server processes; quotas and the ledger hold across them")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    jobs: Annotated[
        bool, typer.Option("--jobs/--no-jobs", help="run queued jobs in the background of this server")
    ] = True,
) -> None:
    """Run the gateway (and the API) with uvicorn, and a job runner beside it."""
    import uvicorn

    from finsandbox.config import get_settings
    from finsandbox.store import upgrade

    settings = get_settings()
    upgrade()
    if jobs:
        # One runner in this (the supervising) process, whatever the number of server workers; more
        # runners (`finsandbox job work`, other hosts) share the queue and its concurrency limit.
        from finsandbox.jobs import follow_trials
        from finsandbox.jobs.runner import start_background
        from finsandbox.supervision.completion import scorecard_for_job

        follow_trials(scorecard_for_job)  # a batch trial's scorecard is built when it completes
        start_background()
    uvicorn.run(
        "finsandbox.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=log_level,
    )


def demo(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving after the demo")] = True,
    port: Annotated[int | None, typer.Option(help="port (default FINSANDBOX_PORT)")] = None,
    trials: Annotated[
        bool, typer.Option("--trials/--no-trials", help="run the four reference trials")
    ] = True,
    finetune: Annotated[
        bool,
        typer.Option(
            "--finetune/--no-finetune",
            help="fine-tune on synthetic fraud reports, compare base and tuned (needs the finetune extra)",
        ),
    ] = True,
) -> None:
    """Set up the demo programme, call the embedded model through the gateway, run the reference trials."""
    from finsandbox.demo import run_demo

    run_demo(console, serve=serve, port=port, trials=trials, finetune=finetune)
