"""`finsandbox guard check`: run a guard policy on a text, to tune a policy without a server.

Exit status: 0 allowed or redacted, 1 blocked, 2 bad input (policy, file, encoding, size).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from finsandbox.errors import FinsandboxError
from finsandbox.guards.base import Action, GuardContext
from finsandbox.guards.pipeline import Pipeline, PipelineResult
from finsandbox.guards.policy import default_policy, load_policy

app = typer.Typer(help="Guard policies: check text against a policy without a server.", no_args_is_help=True)


class Direction(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class Source(StrEnum):
    USER = "user"
    RETRIEVED = "retrieved"


@app.callback()
def _group() -> None:
    """Guard policy tools."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _read(file: Path | None) -> str:
    try:
        data = sys.stdin.buffer.read() if file is None or str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise _fail(f"{file}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = "stdin" if file is None or str(file) == "-" else str(file)
        raise _fail(f"{name}: not valid UTF-8 (byte {exc.start})") from None


@app.command("check")
def check(
    file: Path | None = typer.Argument(None, help="Text file to check; stdin when absent or '-'."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Guard policy YAML; the default policy if absent."
    ),
    direction: Direction = typer.Option(
        Direction.INPUT, "--direction", "-d", help="Check as model input or output."
    ),
    source: Source = typer.Option(
        Source.USER, "--source", help="Input source; 'retrieved' = document content."
    ),
    ner: bool | None = typer.Option(
        None, "--ner/--no-ner", help="Override person-name NER in every PII guard."
    ),
    customer_facing: bool = typer.Option(
        False, "--customer-facing", help="Treat the endpoint as customer-facing."
    ),
    canary: str | None = typer.Option(None, "--canary", help="The endpoint's system-prompt canary."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a report."),
) -> None:
    """Print each guard's decision on the text, then the result and the (redacted) text."""
    try:
        guard_policy = load_policy(policy) if policy is not None else default_policy()
        if ner is not None:
            guard_policy = guard_policy.with_ner(ner)
        pipeline = Pipeline.from_policy(guard_policy)
    except FinsandboxError as exc:
        raise _fail(exc.message) from None
    text = _read(file)
    context = GuardContext(
        direction=direction.value,
        customer_facing=customer_facing or guard_policy.customer_facing,
        canary=canary,
    )
    try:
        if direction is Direction.INPUT:
            message = {"role": "user", "content": text, "finsandbox_source": source.value}
            result = pipeline.check_messages([message], context)
            out_text = result.messages[0]["content"] if result.messages else None
        else:
            result = pipeline.check_output(text, context)
            out_text = result.text
    except FinsandboxError as exc:
        raise _fail(exc.message) from None
    _print(result, out_text, as_json)
    if result.action is Action.BLOCK:
        raise typer.Exit(1)


def _print(result: PipelineResult, text: str | None, as_json: bool) -> None:
    if as_json:
        payload = {"action": str(result.action), "decisions": result.public(include_allow=True), "text": text}
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    for decision in result.decisions:
        summary = decision.public()
        entities = ", ".join(f"{k} x{v}" for k, v in summary["entities"].items())
        line = (
            f"{summary['action']:<6} {summary['guard']:<20} score={summary['score']:.2f}  {summary['reason']}"
        )
        typer.echo(line + (f"  [{entities}]" if entities else ""))
    typer.echo(f"result: {result.action}")
    if text is not None:
        typer.echo("---")
        typer.echo(text)


@app.command("agreement")
def agreement(
    workspace: str = typer.Argument(..., help="The workspace whose endpoint is the checker."),
    checker_endpoint: str = typer.Option(..., "--checker-endpoint", help="The endpoint that checks."),
    labels: Path | None = typer.Option(
        None, "--labels", help="A labelled set of answers (YAML); the shipped set if absent."
    ),
    budget_ms: int = typer.Option(30_000, "--budget-ms", min=50, max=55_000, help="Time per check."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """How far the checker guard agrees with human labels and with the deterministic guards."""
    from finsandbox.cli._common import actor, open_session, pct, table
    from finsandbox.evals.checker_agreement import measure_agreement

    with open_session():
        pass  # the database at the newest schema before the run opens its own sessions
    try:
        report = measure_agreement(
            workspace, checker_endpoint, actor=actor(), labels=labels, budget_ms=budget_ms
        )
    except FinsandboxError as exc:
        raise _fail(exc.message) from None
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, sort_keys=True))
        return

    def kappa(m: dict | None) -> str:
        return "-" if not m or m["cohen_kappa"] is None else f"{m['cohen_kappa']:.2f}"

    human = report["human"]
    rows = [[item, m["n"], pct(m["accuracy"]), kappa(m)] for item, m in human["items"].items()]
    rows.append(["all items", human["pooled"]["n"], pct(human["pooled"]["accuracy"]), kappa(human["pooled"])])
    who = report["checker"]
    name = f"{who.get('endpoint')} ({who.get('model', '?')}, {who.get('backend', '?')})"
    table(f"checker {name} vs human labels", ["rubric item", "answers", "accuracy", "kappa"], rows)
    table(
        "checker vs deterministic guards",
        ["guard", "rubric item", "agreement", "kappa", "guard vs human: accuracy", "kappa"],
        [
            [
                g,
                m["item"],
                pct(m["checker_vs_guard"]["accuracy"]),
                kappa(m["checker_vs_guard"]),
                pct((m["guard_vs_human"] or {}).get("accuracy")),
                kappa(m["guard_vs_human"]),
            ]
            for g, m in report["guards"].items()
        ],
    )
    fooling = report["fooling"]
    typer.echo(
        f"answers: {report['answers']}, no verdict (blocked): {report['errors']}, "
        f"fooled by {fooling['fooled']} of {fooling['answers']} fooling answers; "
        f"prompt {who['prompt_version']} ({who['prompt_digest'][:12]}), rubric {who['rubric_version']}"
    )
    for error in who.get("errors", []):
        typer.echo(f"checker error: {error}")
