"""The demo: a small programme on the embedded defaults, exercised end to end through the gateway.

It is idempotent: institutions, users and the workspace are reused when they exist; a new
demo key is created each run, because keys are shown only once.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import select

from finsandbox import ledger
from finsandbox.access import create_institution, create_key, create_user
from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError
from finsandbox.programme import add_endpoint, add_member, create_workspace
from finsandbox.store import session_scope, upgrade
from finsandbox.store.models import Endpoint, Institution, Membership, User, Workspace

DEMO_PASSWORD = "sandbox-demo-2026"
DEMO_ACTOR = "demo"
WORKSPACE = "demo-customer-service"
ENDPOINT = "smollm2"

INSTITUTIONS = [
    ("Hong Kong Monetary Authority (demo)", "supervisor"),
    ("Harbour Bank (demo)", "bank"),
    ("Kowloon AI Labs (demo)", "tech_partner"),
    ("Sandbox Operator (demo)", "operator"),
]
USERS = [
    ("supervisor@demo.finsandbox.hk", "Sam Supervisor", "Hong Kong Monetary Authority (demo)", None),
    ("banker@demo.finsandbox.hk", "Bonnie Banker", "Harbour Bank (demo)", "owner"),
    ("engineer@demo.finsandbox.hk", "Eddie Engineer", "Kowloon AI Labs (demo)", "developer"),
    ("operator@demo.finsandbox.hk", "Olive Operator", "Sandbox Operator (demo)", None),
]
QUESTIONS = [
    "In one sentence, what is a credit card annual fee?",
    "Give one tip for keeping online banking passwords safe.",
]


@dataclass
class DemoSetup:
    workspace: str
    endpoint: str
    key_prefix: str
    secret: str


def setup_programme() -> DemoSetup:
    """Create (or reuse) the demo programme and a fresh key."""
    upgrade()
    with session_scope(write=True) as s:
        insts: dict[str, Institution] = {}
        for name, kind in INSTITUTIONS:
            inst = s.scalars(select(Institution).where(Institution.name == name)).first()
            insts[name] = inst or create_institution(s, name=name, kind=kind, actor=DEMO_ACTOR)
        bank = insts["Harbour Bank (demo)"]
        ws = s.scalars(select(Workspace).where(Workspace.slug == WORKSPACE)).first()
        if ws is None:
            ws = create_workspace(
                s,
                slug=WORKSPACE,
                name="Customer-service assistant",
                theme="customer_service",
                bank=bank,
                actor=DEMO_ACTOR,
            )
        for email, display, inst_name, ws_role in USERS:
            user = s.scalars(select(User).where(User.email == email)).first()
            if user is None:
                user = create_user(
                    s,
                    email=email,
                    display_name=display,
                    institution=insts[inst_name],
                    password=DEMO_PASSWORD,
                    actor=DEMO_ACTOR,
                )
            if (
                ws_role
                and not s.scalars(
                    select(Membership).where(Membership.workspace_id == ws.id, Membership.user_id == user.id)
                ).first()
            ):
                add_member(s, ws, user, role=ws_role, actor=DEMO_ACTOR)
        if not s.scalars(
            select(Endpoint).where(Endpoint.workspace_id == ws.id, Endpoint.name == ENDPOINT)
        ).first():
            add_endpoint(s, ws, name=ENDPOINT, backend="llamacpp", config={}, actor=DEMO_ACTOR)
        new = create_key(s, ws, name="demo key", actor=DEMO_ACTOR, rpm_limit=120, tpm_limit=50_000)
        return DemoSetup(workspace=WORKSPACE, endpoint=ENDPOINT, key_prefix=new.key.prefix, secret=new.secret)


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


def run_demo(console: Console, *, serve: bool, port: int | None) -> None:
    from openai import OpenAI

    settings = get_settings()
    host, port = settings.host, port or settings.port
    console.rule("finsandbox demo")
    console.print(f"data directory: {settings.home}")
    demo = setup_programme()
    console.print(
        f"programme ready: workspace [bold]{demo.workspace}[/], endpoint [bold]{demo.endpoint}[/] "
        f"(embedded SmolLM2-135M-Instruct via llama.cpp), key [bold]{demo.key_prefix}[/]"
    )
    server, thread = start_server(host, port)
    base_url = f"http://{host}:{port}/v1"
    console.print(f"gateway listening on {base_url}")
    client = OpenAI(base_url=base_url, api_key=demo.secret, max_retries=0, timeout=120)

    models = client.models.list()
    console.print(f"models visible to the key: {', '.join(m.id for m in models.data)}")
    for i, question in enumerate(QUESTIONS):
        started = time.perf_counter()
        if i == 0:
            reply = client.chat.completions.create(
                model=demo.endpoint,
                messages=[
                    {"role": "system", "content": "You are a concise assistant for a Hong Kong bank."},
                    {"role": "user", "content": question},
                ],
                max_tokens=64,
                temperature=0.2,
                seed=7,
            )
            answer = reply.choices[0].message.content or ""
            usage = reply.usage
            mode = "non-streaming"
        else:
            stream = client.chat.completions.create(
                model=demo.endpoint,
                messages=[{"role": "user", "content": question}],
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
            answer = "".join(parts)
            mode = "streaming"
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
