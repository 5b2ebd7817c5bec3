"""`finsandbox trial`: create, run (with live progress), resume, rescore, export and cancel trials."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from finsandbox.cli._common import (
    actor,
    console,
    group,
    open_session,
    pct,
    table,
)
from finsandbox.errors import InvalidRequest

app = group("Evaluation trials: suites of recipes run through the gateway.")


def _run_with_progress(trial_id: str, total_hint: int) -> Any:
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.evals.trials import run_trial

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("trial", total=total_hint, last="")

        def on_progress(done: int, total: int, result: Any) -> None:
            last = ""
            if result is not None:
                mark = "error" if result.error else ("pass" if result.passed else "fail")
                last = f"{result.recipe}/{result.case_id[:30]}: {mark}"
            progress.update(task, completed=done, total=total, last=last)

        trial = asyncio.run(run_trial(trial_id, actor=actor(), on_progress=on_progress))
    from finsandbox.supervision.completion import scorecard_on_completion

    scorecard_on_completion(trial_id)  # grades exist as soon as the trial completes
    return trial


def _print_summary(trial: Any) -> None:
    summary = trial.summary or {}
    console.print(
        f"trial [bold]{trial.id}[/] {trial.name!r}: {trial.status}, "
        f"{trial.done_cases}/{trial.total_cases} cases" + (f" — {trial.error}" if trial.error else "")
    )
    recipes = summary.get("recipes") or {}
    if recipes:
        table(
            "by recipe",
            ["recipe", "theme", "cases", "passed", "pass rate", "blocked", "errors", "principles"],
            [
                [
                    k,
                    v["theme"],
                    v["n"],
                    v["passed"],
                    pct(v["pass_rate"]),
                    v["blocked"],
                    v["errors"],
                    ", ".join(v["principles"]),
                ]
                for k, v in recipes.items()
            ],
        )
    for title, key in (("by principle", "principles"), ("by theme", "themes")):
        data = summary.get(key) or {}
        if data:
            table(
                title,
                [key[:-1], "cases", "passed", "pass rate"],
                [[k, v["n"], v["passed"], pct(v["pass_rate"])] for k, v in data.items()],
            )


@contextmanager
def _flags() -> Iterator[None]:
    """Say a setting's problem in this command's words: `max_cases ...` becomes `--max-cases ...`."""
    try:
        yield
    except InvalidRequest as exc:
        if exc.param and re.search(rf"\b{re.escape(exc.param)}\b", exc.message):
            flag = "--" + exc.param.replace("_", "-")
            message = re.sub(rf"\b{re.escape(exc.param)}\b", flag, exc.message)
            raise InvalidRequest(message, param=exc.param) from None
        raise


@app.command("run")
def trial_run(
    workspace: Annotated[str, typer.Option(help="the workspace the trial runs for")],
    endpoint: Annotated[str, typer.Option(help="the endpoint under test")],
    suite: Annotated[
        list[str], typer.Option(help="a reference use case (theme) or a suite YAML; repeatable")
    ],
    recipe: Annotated[list[str] | None, typer.Option(help="only these recipes; repeatable")] = None,
    max_cases: Annotated[int | None, typer.Option(help="at most this many base cases per recipe")] = None,
    max_variants: Annotated[
        int | None, typer.Option(help="at most this many attack variants per base case (a seeded sample)")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="max_tokens of each model call")] = 256,
    seed: Annotated[int, typer.Option(help="seed for attacks and generation")] = 0,
    concurrency: Annotated[int, typer.Option(help="cases in flight")] = 4,
    executor: Annotated[str, typer.Option(help="local, ray, or a plugin's executor")] = "local",
    target: Annotated[
        str | None, typer.Option(help="endpoint (default), external, or a plugin's target")
    ] = None,
    name: Annotated[str | None, typer.Option(help="a name for the trial")] = None,
    external_url: Annotated[
        str | None, typer.Option(help="test an external app (JSON in/out) instead")
    ] = None,
    gateway_url: Annotated[
        str | None, typer.Option(help="a running gateway (…/v1); default: an in-process gateway")
    ] = None,
    judge_endpoint: Annotated[str | None, typer.Option(help="endpoint used by llm_judge scorers")] = None,
) -> None:
    """Create a trial and run it with live progress; Ctrl-C leaves it resumable."""
    from finsandbox.evals.trials import TrialConfig, create_trial

    with open_session() as s, _flags():
        trial = create_trial(
            s,
            TrialConfig(
                workspace=workspace,
                endpoint=endpoint,
                suites=suite,
                name=name,
                recipes=recipe,
                max_cases=max_cases,
                max_variants=max_variants,
                max_tokens=max_tokens,
                seed=seed,
                concurrency=concurrency,
                executor=executor,
                target=target,
                external_url=external_url,
                gateway_url=gateway_url,
                judge_endpoint=judge_endpoint,
            ),
            actor=actor(),
        )
        trial_id, total = trial.id, trial.total_cases
    console.print(f"trial {trial_id} created with {total} cases")
    _print_summary(_run_with_progress(trial_id, total))


@app.command("resume")
def trial_resume(trial_id: str) -> None:
    """Continue an interrupted trial; finished cases are not run again."""
    with open_session(write=False) as s:
        from finsandbox.evals.trials import get_trial

        trial = get_trial(s, trial_id)
        trial_id, total = trial.id, trial.total_cases
    _print_summary(_run_with_progress(trial_id, total))


@app.command("list")
def trial_list(workspace: Annotated[str | None, typer.Option(help="only this workspace")] = None) -> None:
    from finsandbox.evals.trials import list_trials
    from finsandbox.programme import get_workspace

    with open_session(write=False) as s:
        ws_id = get_workspace(s, workspace).id if workspace else None
        table(
            "trials",
            ["id", "workspace", "name", "status", "cases", "created"],
            [
                [t.id, t.workspace.slug, t.name, t.status, f"{t.done_cases}/{t.total_cases}", t.created_at]
                for t in list_trials(s, ws_id)
            ],
        )


@app.command("show")
def trial_show(
    trial_id: str,
    failures: Annotated[int, typer.Option(help="show up to this many failing cases")] = 5,
) -> None:
    """Summary by recipe, principle and theme, and the first failing cases."""
    from finsandbox.evals.trials import get_trial, results

    with open_session(write=False) as s:
        trial = get_trial(s, trial_id)
        _print_summary(trial)
        failing = [r for r in results(s, trial.id) if r.passed is False][:failures]
        for r in failing:
            why = r.error or "; ".join(
                f"{x['scorer']}: {x.get('explanation', '')}" for x in r.scores if x.get("passed") is False
            )
            console.print(f"[red]fail[/] {r.item}: {why[:200]}")


@app.command("rescore")
def trial_rescore(trial_id: str) -> None:
    """Recompute scores from stored outputs (no model is called) and make a new score version."""
    from finsandbox.evals.trials import rescore
    from finsandbox.store import upgrade

    upgrade()
    trial = rescore(trial_id, actor=actor())
    console.print(f"trial {trial.id} rescored: score version {trial.score_version}")
    _print_summary(trial)


@app.command("export")
def trial_export(
    trial_id: str,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default stdout)")
    ] = None,
) -> None:
    from finsandbox.evals.trials import export

    with open_session(write=False) as s:
        text = export(s, trial_id, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command("cancel")
def trial_cancel(trial_id: str) -> None:
    """Ask a running trial to stop after its cases in flight."""
    from finsandbox.evals.trials import request_cancel

    with open_session() as s:
        trial = request_cancel(s, trial_id, actor=actor())
        console.print(f"trial {trial.id}: {trial.status}")
