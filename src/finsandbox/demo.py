"""The demo: a small programme on the embedded defaults, exercised end to end through the gateway.

It sets up a cohort-sized programme (a supervisor, an operator, three banks, two tech
partners, the four reference use cases as workspaces), sends chat completions with the
official `openai` client, then runs the four reference suites as trials through the same
gateway and prints what they found by theme and by principle. It is idempotent: existing
institutions, users and workspaces are reused; a new key is created each run, because keys
are shown only once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import select

from finsandbox import ledger
from finsandbox.access import create_institution, create_key, create_user
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError
from finsandbox.guards import shipped_policy_text
from finsandbox.programme import add_endpoint, add_member, create_workspace, set_guard_policy
from finsandbox.store import session_scope, upgrade
from finsandbox.store.models import Endpoint, Institution, Membership, User, Workspace

DEMO_PASSWORD = "sandbox-demo-2026"
DEMO_ACTOR = "demo"
ENDPOINT = "smollm2"
SUPERVISOR = "Hong Kong Monetary Authority (demo)"

INSTITUTIONS = [
    (SUPERVISOR, "supervisor"),
    ("Sandbox Operator (demo)", "operator"),
    ("Harbour Bank (demo)", "bank"),
    ("Lion Rock Bank (demo)", "bank"),
    ("Victoria Bank (demo)", "bank"),
    ("Kowloon AI Labs (demo)", "tech_partner"),
    ("Pearl River Analytics (demo)", "tech_partner"),
]
USERS = [
    ("supervisor@demo.finsandbox.hk", "Sam Supervisor", SUPERVISOR),
    ("operator@demo.finsandbox.hk", "Olive Operator", "Sandbox Operator (demo)"),
    ("harbour@demo.finsandbox.hk", "Hannah Harbour", "Harbour Bank (demo)"),
    ("lionrock@demo.finsandbox.hk", "Leo Lionrock", "Lion Rock Bank (demo)"),
    ("victoria@demo.finsandbox.hk", "Vera Victoria", "Victoria Bank (demo)"),
    ("kowloon@demo.finsandbox.hk", "Kit Kowloon", "Kowloon AI Labs (demo)"),
    ("pearl@demo.finsandbox.hk", "Pat Pearl", "Pearl River Analytics (demo)"),
]


@dataclass(frozen=True)
class DemoUseCase:
    slug: str
    title: str
    theme: str
    bank: str
    members: tuple[tuple[str, str], ...]
    customer_facing: bool = False
    # A shipped guard policy by name (None: the default). Extraction needs the caller's values
    # back in the answer, so it pseudonymises instead of redacting.
    guard_policy: str | None = None


USE_CASES = [
    DemoUseCase(
        "harbour-customer-service",
        "Customer-service assistant",
        "customer_service",
        "Harbour Bank (demo)",
        (("harbour@demo.finsandbox.hk", "owner"), ("kowloon@demo.finsandbox.hk", "developer")),
        True,
    ),
    DemoUseCase(
        "lionrock-fraud-triage",
        "Fraud alert triage and STR drafting",
        "anti_fraud",
        "Lion Rock Bank (demo)",
        (("lionrock@demo.finsandbox.hk", "owner"), ("pearl@demo.finsandbox.hk", "developer")),
    ),
    DemoUseCase(
        "victoria-credit-memo",
        "Credit memo drafting",
        "risk_management",
        "Victoria Bank (demo)",
        (("victoria@demo.finsandbox.hk", "owner"),),
    ),
    DemoUseCase(
        "harbour-kyc-extraction",
        "KYC and trade document extraction",
        "process_reengineering",
        "Harbour Bank (demo)",
        (("harbour@demo.finsandbox.hk", "owner"), ("pearl@demo.finsandbox.hk", "developer")),
        guard_policy="pseudonymise",
    ),
]
CHAT_WORKSPACE = USE_CASES[0].slug
QUESTIONS = [
    "In one sentence, what is a credit card annual fee?",
    "Give one tip for keeping online banking passwords safe.",
]
# Trial size for the demo: enough to see every recipe, small enough for 2 CPU cores.
DEMO_MAX_CASES = 2
DEMO_MAX_VARIANTS = 1
DEMO_MAX_TOKENS = 128


@dataclass
class DemoSetup:
    workspace: str
    endpoint: str
    key_prefix: str
    secret: str
    workspaces: list[str] = field(default_factory=list)


def _ensure_institutions(s: Any) -> dict[str, Institution]:
    insts: dict[str, Institution] = {}
    for name, kind in INSTITUTIONS:
        inst = s.scalars(select(Institution).where(Institution.name == name)).first()
        insts[name] = inst or create_institution(s, name=name, kind=kind, actor=DEMO_ACTOR)
    return insts


def setup_programme() -> DemoSetup:
    """Create (or reuse) the demo programme and a fresh key for the chat workspace."""
    upgrade()
    with session_scope(write=True) as s:
        insts = _ensure_institutions(s)
        users: dict[str, User] = {}
        for email, display, inst_name in USERS:
            user = s.scalars(select(User).where(User.email == email)).first()
            users[email] = user or create_user(
                s,
                email=email,
                display_name=display,
                institution=insts[inst_name],
                password=DEMO_PASSWORD,
                actor=DEMO_ACTOR,
            )
        chat_ws: Workspace | None = None
        for uc in USE_CASES:
            ws = s.scalars(select(Workspace).where(Workspace.slug == uc.slug)).first()
            if ws is None:
                ws = create_workspace(
                    s, slug=uc.slug, name=uc.title, theme=uc.theme, bank=insts[uc.bank], actor=DEMO_ACTOR
                )
                if uc.guard_policy is not None:
                    policy = shipped_policy_text(uc.guard_policy)
                    set_guard_policy(s, ws, policy, actor=DEMO_ACTOR)
            for email, role in uc.members:
                member = s.scalars(
                    select(Membership).where(
                        Membership.workspace_id == ws.id, Membership.user_id == users[email].id
                    )
                ).first()
                if member is None:
                    add_member(s, ws, users[email], role=role, actor=DEMO_ACTOR)
            if not s.scalars(
                select(Endpoint).where(Endpoint.workspace_id == ws.id, Endpoint.name == ENDPOINT)
            ).first():
                add_endpoint(
                    s,
                    ws,
                    name=ENDPOINT,
                    backend="llamacpp",
                    config={},
                    actor=DEMO_ACTOR,
                    customer_facing=uc.customer_facing,
                )
            if uc.slug == CHAT_WORKSPACE:
                chat_ws = ws
        assert chat_ws is not None
        _ensure_cohort_and_applications(s, users)
        new = create_key(s, chat_ws, name="demo key", actor=DEMO_ACTOR, rpm_limit=120, tpm_limit=50_000)
        return DemoSetup(
            workspace=CHAT_WORKSPACE,
            endpoint=ENDPOINT,
            key_prefix=new.key.prefix,
            secret=new.secret,
            workspaces=[uc.slug for uc in USE_CASES],
        )


COHORT = "GenAI Sandbox Cohort 2026"
APPLICATIONS = [
    # (bank user, title, theme, approach, risk, tech partner, what happens to it)
    (
        "victoria@demo.finsandbox.hk",
        "Mortgage affordability explainer",
        "customer_service",
        "rag",
        "medium",
        None,
        "proposed",
    ),
    (
        "lionrock@demo.finsandbox.hk",
        "Trade-finance document discrepancy checker",
        "process_reengineering",
        "agent",
        "high",
        "Pearl River Analytics (demo)",
        "under_assessment",
    ),
    (
        "harbour@demo.finsandbox.hk",
        "Personalised investment product pitches",
        "customer_service",
        "fine_tuning",
        "high",
        "Kowloon AI Labs (demo)",
        "declined",
    ),
]


def _ensure_cohort_and_applications(s: Any, users: dict[str, User]) -> None:
    """One open cohort holding the four use cases, and applications in several lifecycle states."""
    from finsandbox.access.roles import THEMES
    from finsandbox.programme.applications import assess, decline, list_applications, submit_application
    from finsandbox.programme.cohorts import add_workspace, create_cohort
    from finsandbox.store.models import Cohort

    cohort = s.scalars(select(Cohort).where(Cohort.name == COHORT)).first()
    if cohort is None:
        cohort = create_cohort(s, name=COHORT, themes=list(THEMES), actor=DEMO_ACTOR)
    for uc in USE_CASES:
        ws = s.scalars(select(Workspace).where(Workspace.slug == uc.slug)).first()
        if ws is not None and ws.cohort_id is None:
            add_workspace(s, cohort, ws, actor=DEMO_ACTOR)
    supervisor = users["supervisor@demo.finsandbox.hk"]
    existing = {a.title for a in list_applications(s, cohort=cohort.name)}
    for email, title, theme, approach, risk, partner, outcome in APPLICATIONS:
        if title in existing:
            continue
        app = submit_application(
            s,
            users[email],
            cohort=cohort.name,
            title=title,
            theme=theme,
            description=f"{title}: a pilot of Generative AI in {theme.replace('_', ' ')}.",
            approach=approach,
            data_used="synthetic and anonymised internal data",
            expected_benefit="faster, more consistent handling with human review",
            risk_materiality=risk,
            tech_partner=partner,
        )
        if outcome == "under_assessment":
            assess(
                s,
                supervisor,
                app.id,
                scores={
                    "innovation": 4,
                    "technical_sophistication": 3,
                    "industry_contribution": 4,
                    "fair_use": 3,
                },
                comment="Promising; needs an evaluation plan for false negatives.",
            )
        elif outcome == "declined":
            decline(
                s,
                supervisor,
                app.id,
                reasons="Personalised investment advice by a fine-tuned model falls "
                "outside the sandbox's consumer-protection boundaries for this cohort.",
            )


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_server(host: str, port: int):  # type: ignore[no-untyped-def]
    """Run uvicorn in a background thread of this process; returns the server and its thread."""
    import uvicorn

    from finsandbox.app import create_app

    if not _port_free(host, port):
        raise FinsandboxError(f"port {port} on {host} is in use; pass --port or set FINSANDBOX_PORT")
    config = uvicorn.Config(create_app(), host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="finsandbox-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise FinsandboxError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    return server, thread


def chat(console: Console, base_url: str, demo: DemoSetup) -> None:
    """Two calls with the official client: one plain, one streamed."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=demo.secret, max_retries=0, timeout=300)
    models = client.models.list()
    console.print(f"models visible to the key: {', '.join(m.id for m in models.data)}")
    for i, question in enumerate(QUESTIONS):
        started = time.perf_counter()
        messages = [{"role": "user", "content": question}]
        if i == 0:
            reply = client.chat.completions.create(
                model=demo.endpoint,
                messages=[
                    {"role": "system", "content": "You are a concise assistant for a Hong Kong bank."},
                    *messages,
                ],
                max_tokens=64,
                temperature=0.2,
                seed=7,
            )
            answer, usage, mode = reply.choices[0].message.content or "", reply.usage, "non-streaming"
        else:
            stream = client.chat.completions.create(
                model=demo.endpoint,
                messages=messages,
                max_tokens=64,
                temperature=0.2,
                seed=7,
                stream=True,
                stream_options={"include_usage": True},
            )
            parts: list[str] = []
            usage = None
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage:
                    usage = chunk.usage
            answer, mode = "".join(parts), "streaming"
        elapsed = (time.perf_counter() - started) * 1000
        tokens = (
            f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens" if usage else "?"
        )
        console.print(
            Panel(
                answer.strip() or "(empty answer)",
                title=f"Q{i + 1} ({mode}): {question}",
                subtitle=f"{tokens}, {elapsed:.0f} ms",
            )
        )


def run_trials(console: Console, base_url: str) -> list[str]:
    """Run the four reference suites as trials through the running gateway; returns the trial ids."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.evals.trials import TrialConfig, create_trial, run_trial

    trial_ids: list[str] = []
    with session_scope(write=True) as s:
        for uc in USE_CASES:
            trial = create_trial(
                s,
                TrialConfig(
                    workspace=uc.slug,
                    endpoint=ENDPOINT,
                    suites=[uc.theme],
                    name=f"demo: {uc.theme} reference suite",
                    max_cases=DEMO_MAX_CASES,
                    max_variants=DEMO_MAX_VARIANTS,
                    max_tokens=DEMO_MAX_TOKENS,
                    concurrency=2,
                    gateway_url=base_url,
                ),
                actor=DEMO_ACTOR,
            )
            trial_ids.append(trial.id)
    with Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for uc, trial_id in zip(USE_CASES, trial_ids, strict=True):
            task = progress.add_task(uc.theme, total=None)

            def update(done: int, total: int, _result: Any, task: Any = task) -> None:
                progress.update(task, completed=done, total=total)

            trial = asyncio.run(run_trial(trial_id, actor=DEMO_ACTOR, on_progress=update))
            if trial.status != "completed":
                console.print(f"[red]trial {trial.id} {trial.status}: {trial.error}[/]")
    return trial_ids


def supervise(output_dir: Path, trial_ids: list[str]) -> list[str]:
    """Scorecards for every trial; for the customer-service use case, a supervisor's review with a
    finding tied to its worst failing case, its exit report (HTML and PDF) and a signed bundle."""
    import json

    from finsandbox.access import get_user
    from finsandbox.supervision.demo import demo_review
    from finsandbox.supervision.scorecards import build_scorecard

    lines: list[str] = []
    (output_dir / "scorecards").mkdir(parents=True, exist_ok=True)
    with session_scope(write=True) as s:
        supervisor = get_user(s, "supervisor@demo.finsandbox.hk")
        for trial_id in trial_ids[1:]:
            card, _ = build_scorecard(s, trial_id, actor=f"user:{supervisor.email}", user=supervisor)
            path = output_dir / "scorecards" / f"{card.trial_id}-v{card.version}.json"
            path.write_text(json.dumps({"id": card.id, **card.data}, indent=2, default=str), encoding="utf-8")
            lines.append(f"scorecard: {path}")
    out = demo_review(
        workspace=CHAT_WORKSPACE,
        trial_ids=trial_ids[:1],
        supervisor_email="supervisor@demo.finsandbox.hk",
        participant_email="harbour@demo.finsandbox.hk",
        output_dir=output_dir,
    )
    return out.lines() + lines


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def print_summary(console: Console, trial_ids: list[str]) -> None:
    """One table: rows are principles, columns are themes, cells are pass rates (cases)."""
    from finsandbox.evals.trials import get_trial

    with session_scope() as s:
        trials = [get_trial(s, t) for t in trial_ids]
        per_theme: dict[str, dict[str, Any]] = {}
        for t in trials:
            theme = next(iter((t.summary or {}).get("themes", {})), t.workspace.theme)
            per_theme[theme] = (t.summary or {}).get("principles", {})
        principles = sorted({p for d in per_theme.values() for p in d})
        table = Table(title="reference use cases on the embedded model: pass rate by principle (cases)")
        table.add_column("principle")
        for theme in per_theme:
            table.add_column(theme.replace("_", " "), justify="right")
        for p in principles:
            row = [p.replace("_", " ")]
            for theme in per_theme:
                cell = per_theme[theme].get(p)
                row.append(f"{_pct(cell['pass_rate'])} ({cell['n']})" if cell else "")
            table.add_row(*row)
        totals = ["[bold]all recipes[/]"]
        for t in trials:
            theme_stats = next(iter((t.summary or {}).get("themes", {}).values()), None)
            totals.append(f"{_pct(theme_stats['pass_rate'])} ({theme_stats['n']})" if theme_stats else "")
        table.add_row(*totals)
        console.print(table)
        for t in trials:
            console.print(f"  {t.workspace.slug}: trial {t.id} ({t.status}, {t.done_cases} cases)")
    console.print(
        "full results: finsandbox trial show TRIAL_ID, finsandbox trial export TRIAL_ID -o results.jsonl"
    )


# The demo fine-tune: 96 of the 120 synthetic triage pairs (24 steps of 4), then the held-out
# suite on base and tuned. bench/README.md gives the time this takes on two CPU cores.
FINETUNE_WORKSPACE = "lionrock-fraud-triage"
FINETUNE_DATASET = "fraud-triage-train"
FINETUNE_PARAMS = {
    "rank": 8,
    "alpha": 16,
    "learning_rate": 5e-3,
    "max_steps": 24,
    "batch_size": 4,
    "max_seq_len": 320,
    "seed": 0,
}
FINETUNE_MAX_CASES = 40  # every held-out alert: 20 are too few to tell 0% from 20% (p = 0.11)


def finetune_demo(console: Console, base_url: str) -> None:
    """Fine-tune SmolLM2 on the synthetic fraud-triage pairs and compare base and tuned on the held-out
    cases; only with the `finetune` extra installed (one line otherwise)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from finsandbox.access import get_user
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.finetune import parse_params, run_finetune, unavailable
    from finsandbox.programme import get_workspace
    from finsandbox.store.models import Dataset
    from finsandbox.supervision.base_vs_tuned import compare_endpoints
    from finsandbox.usecases.anti_fraud.finetune_data import train_path

    reason = unavailable()
    if reason is not None:
        console.print(
            "fine-tuning: skipped; to fine-tune SmolLM2 on the synthetic fraud reports and compare base and "
            "tuned here, install the finetune extra (pip install 'finsandbox[finetune]' with a CPU build of "
            "PyTorch; docs/finetuning.md)",
            soft_wrap=True,
            markup=False,  # "[finetune]" is not a style
        )
        return
    owner = "lionrock@demo.finsandbox.hk"
    with session_scope(write=True) as s:
        ws = get_workspace(s, FINETUNE_WORKSPACE)
        if not s.scalars(
            select(Dataset).where(Dataset.workspace_id == ws.id, Dataset.name == FINETUNE_DATASET)
        ).first():
            upload_dataset(
                s,
                get_user(s, owner),
                ws,
                name=FINETUNE_DATASET,
                filename=train_path().name,
                data=train_path().read_bytes(),
            )
    columns = (
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, TextColumn("{task.fields[note]}"), console=console) as progress:
        task = progress.add_task("fine-tuning", total=None, note="loading the model")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, note=f"loss {loss:.3f}")

        outcome = run_finetune(
            FINETUNE_WORKSPACE,
            FINETUNE_DATASET,
            parse_params(FINETUNE_PARAMS),
            actor=f"user:{owner}",
            user_email=owner,
            on_step=on_step,
        )
        t = outcome.provenance["training"]
        tasks = {w: progress.add_task(f"trial: {w}", total=None, note="") for w in ("base", "tuned")}

        def on_progress(which: str, done: int, total: int) -> None:
            progress.update(tasks[which], completed=done, total=total)

        result = compare_endpoints(
            FINETUNE_WORKSPACE,
            ENDPOINT,
            str(outcome.endpoint),
            actor=f"user:{owner}",
            user_email=owner,
            max_cases=FINETUNE_MAX_CASES,
            gateway_url=base_url,
            on_progress=on_progress,
        )
    console.print(
        f"endpoint {outcome.endpoint} in {FINETUNE_WORKSPACE}: {t['steps']} steps, {t['tokens']:,} tokens in "
        f"{t['seconds']:.0f} s on {t['device']}, loss {t['loss_curve'][0]:.2f} -> {t['loss_curve'][-1]:.2f}",
        soft_wrap=True,
    )
    table = Table(
        title=f"base {ENDPOINT} versus tuned {outcome.endpoint}: held-out fraud triage (Fisher's exact)"
    )
    for column in ("recipe", "base", "tuned", "p", "verdict"):
        table.add_column(column, justify="left" if column in ("recipe", "verdict") else "right")
    for change in result["comparison"]["recipes"]:
        table.add_row(
            change["name"].split("/")[-1],
            _pct(change["before"]),
            _pct(change["after"]),
            "-" if change["p_value"] is None else f"{change['p_value']:.2g}",
            change["verdict"],
        )
    console.print(table)


def run_demo(
    console: Console, *, serve: bool, port: int | None, trials: bool = True, finetune: bool = True
) -> None:
    settings = get_settings()
    host, port = settings.host, port or settings.port
    console.rule("finsandbox demo")
    console.print(f"data directory: {settings.home}")
    demo = setup_programme()
    console.print(
        f"programme ready: {len(USE_CASES)} use-case workspaces, endpoint [bold]{demo.endpoint}[/] "
        "(embedded SmolLM2-135M-Instruct via llama.cpp), "
        f"chat key [bold]{demo.key_prefix}[/] for {demo.workspace}"
    )
    server, thread = start_server(host, port)
    base_url = f"http://{host}:{port}/v1"
    console.print(f"gateway listening on {base_url}; web UI at http://{host}:{port}/ (demo logins below)")
    chat(console, base_url, demo)
    if trials:
        console.rule("trials: the four reference use cases, through the gateway")
        trial_ids = run_trials(console, base_url)
        print_summary(console, trial_ids)
        console.rule("supervision: scorecards, a review, the exit report and the evidence bundle")
        for line in supervise(settings.home / "demo-output", trial_ids):
            console.print(line, soft_wrap=True, highlight=False)
    if finetune:
        console.rule("fine-tuning: SmolLM2 on synthetic fraud reports, base versus tuned")
        finetune_demo(console, base_url)
    with session_scope() as s:
        report = ledger.verify(s)
    console.print(
        f"ledger: {report.entries} entries, head {report.head_seq}:{report.head_hash} — "
        + ("[green]chain verified[/]" if report.ok else f"[red]BROKEN: {report.first}[/]")
    )
    console.print(f"demo logins (password {DEMO_PASSWORD!r}): " + ", ".join(u[0] for u in USERS))
    console.print(f"demo key (shown once): {demo.secret}")
    if not serve:
        server.should_exit = True
        thread.join(timeout=10)
        console.print("done (--no-serve).")
        return
    console.print(
        f"\nServing on http://{host}:{port} until Ctrl-C. Try:\n"
        f"  curl {base_url}/chat/completions -H 'Authorization: Bearer {demo.secret}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"model":"{demo.endpoint}","messages":[{{"role":"user","content":"Hello"}}]}}\''
    )
    try:
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(timeout=10)
        console.print("stopped.")
