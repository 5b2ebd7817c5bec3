"""The `finsandbox` command: programme set-up, keys and the ledger, as an operator types them.

Successful commands run in-process through typer's CliRunner (fast); bad input runs the real
entry point in a subprocess, because turning an error into one line and exit status 1 is
the job of `finsandbox.cli.main`, which CliRunner does not call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner, Result

from finsandbox import cli

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(db: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run a CLI command in-process and insist that it succeeds."""
    monkeypatch.setenv("FINSANDBOX_ACTOR", "cli-test")
    monkeypatch.setattr(cli.console, "width", 250)  # tables must not wrap what the tests look for
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli.app, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def finsandbox(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point, as a user runs it (the database comes from the environment)."""
    env = {**os.environ, "COLUMNS": "80", "FINSANDBOX_ACTOR": "cli-test"}
    return subprocess.run(
        [sys.executable, "-m", "finsandbox", *args], env=env, capture_output=True, text=True, timeout=120
    )


def ledger_size() -> int:
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def set_up_bank(invoke: Invoke) -> None:
    out = invoke("programme", "institution", "add", "Gamma Bank", "--kind", "bank").output
    assert "institution 'Gamma Bank' (bank) created" in out
    out = invoke(
        "programme",
        "user",
        "add",
        "dev@gamma.example.com",
        "--institution",
        "Gamma Bank",
        "--name",
        "Gamma Dev",
        "--password",
        "long-enough-1",
    ).output
    assert "user dev@gamma.example.com (participant) created" in out
    out = invoke(
        "programme", "workspace", "create", "ws-gamma", "--theme", "anti_fraud", "--bank", "Gamma Bank"
    ).output
    assert "workspace ws-gamma created for Gamma Bank" in out


def test_programme_set_up_end_to_end(invoke: Invoke) -> None:
    set_up_bank(invoke)
    out = invoke("programme", "member", "add", "ws-gamma", "dev@gamma.example.com", "--role", "owner").output
    assert "dev@gamma.example.com is now owner of ws-gamma" in out
    invoke("programme", "endpoint", "add", "ws-gamma", "smollm2", "--backend", "llamacpp")
    out = invoke(
        "programme",
        "endpoint",
        "add",
        "ws-gamma",
        "remote",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "upstream-m",
        "--api-key-env",
        "UPSTREAM_KEY",
    ).output
    assert "endpoint remote (openai) added to ws-gamma" in out

    assert "Gamma Bank" in invoke("programme", "institution", "list").output
    users = invoke("programme", "user", "list").output
    assert "dev@gamma.example.com" in users and "participant" in users
    workspaces = invoke("programme", "workspace", "list").output
    assert "ws-gamma" in workspaces and "anti_fraud" in workspaces
    assert "owner" in invoke("programme", "member", "list", "ws-gamma").output
    endpoints = invoke("programme", "endpoint", "list", "ws-gamma").output
    assert "smollm2" in endpoints and "llamacpp" in endpoints
    assert "upstream-m" in endpoints and "UPSTREAM_KEY" in endpoints

    from finsandbox.programme import get_workspace, list_endpoints
    from finsandbox.store import session_scope

    with session_scope() as s:
        ws = get_workspace(s, "ws-gamma")
        assert ws.theme == "anti_fraud" and ws.bank.name == "Gamma Bank"
        assert [(e.name, e.backend) for e in list_endpoints(s, ws.id)] == [
            ("remote", "openai"),
            ("smollm2", "llamacpp"),
        ]


def test_key_create_list_revoke(invoke: Invoke) -> None:
    from finsandbox.access import authenticate
    from finsandbox.errors import AuthenticationFailed
    from finsandbox.store import session_scope

    set_up_bank(invoke)
    out = invoke("key", "create", "ws-gamma", "--name", "fraud app", "--rpm", "30", "--budget", "5000").output
    assert "Copy it now" in out
    secret = out.strip().splitlines()[-1]
    quiet = invoke("key", "create", "ws-gamma", "--name", "batch", "--expires-in-days", "7", "--quiet").output
    quiet_secret = quiet.strip()
    assert quiet.count("\n") == 1  # --quiet prints the key and nothing else

    with session_scope() as s:
        key = authenticate(s, secret)
        assert (key.name, key.rpm_limit, key.token_budget, key.workspace.slug) == (
            "fraud app",
            30,
            5000,
            "ws-gamma",
        )
        batch = authenticate(s, quiet_secret)
        assert batch.expires_at is not None
    prefix = key.prefix

    listing = invoke("key", "list", "ws-gamma").output
    assert prefix in listing and batch.prefix in listing
    assert "fraud app" in listing and "active" in listing
    assert secret not in listing and key.key_hash not in listing  # never shown again, not even hashed

    assert f"key {prefix} revoked" in invoke("key", "revoke", prefix).output
    revoked_row = next(
        line for line in invoke("key", "list", "ws-gamma").output.splitlines() if prefix in line
    )
    assert "revoked" in revoked_row
    with session_scope() as s, pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate(s, secret)


def test_ledger_head_and_verify(invoke: Invoke) -> None:
    from finsandbox import ledger
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    assert invoke("ledger", "head").output.strip() == f"0:{ledger.GENESIS}"
    set_up_bank(invoke)
    head = invoke("ledger", "head").output.strip()
    with session_scope() as s:
        newest = ledger.head(s)
        assert newest is not None
    assert head == f"{newest.seq}:{newest.entry_hash}"
    out = invoke("ledger", "verify").output
    assert f"ledger OK: {newest.seq} entries" in out
    assert "ledger OK" in invoke("ledger", "verify", "--anchor", head).output
    shown = invoke("ledger", "show", "--kind", "workspace.created").output
    assert "workspace.created" in shown and "institution.created" not in shown

    # Tampering with an entry's payload makes verify fail, naming the entry.
    with session_scope(write=True) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.seq == 2).values(payload='{"forged":true}'))
    broken = invoke("ledger", "verify", ok=False)
    assert broken.exit_code == 1
    assert "ledger BROKEN: entry 2 edited" in broken.output


def test_verify_with_an_anchor_detects_a_truncated_ledger(invoke: Invoke) -> None:
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    set_up_bank(invoke)
    anchor = invoke("ledger", "head").output.strip()
    seq = int(anchor.split(":")[0])
    with session_scope(write=True) as s:
        s.execute(LedgerEntry.__table__.delete().where(LedgerEntry.seq == seq))
    assert invoke("ledger", "verify").exit_code == 0  # a shorter chain is still a valid chain...
    broken = invoke("ledger", "verify", "--anchor", anchor, ok=False)  # ...but not the anchored one
    assert broken.exit_code == 1
    assert f"entry {seq} truncated" in broken.output


BAD_INPUT: list[tuple[str, list[str], str]] = [
    ("unknown workspace", ["key", "create", "ghost", "--name", "x"], "no workspace 'ghost'"),
    (
        "unknown workspace for a member",
        ["programme", "member", "add", "ghost", "dev@ws-alpha.example.com"],
        "no workspace 'ghost'",
    ),
    (
        "bad theme",
        ["programme", "workspace", "create", "ws-new", "--theme", "crypto", "--bank", "Alpha Bank"],
        "unknown theme 'crypto'; use one of risk_management, anti_fraud, customer_service, "
        "process_reengineering",
    ),
    (
        "duplicate institution",
        ["programme", "institution", "add", "Alpha Bank", "--kind", "bank"],
        "an institution named 'Alpha Bank' already exists",
    ),
    (
        "bad institution kind",
        ["programme", "institution", "add", "Delta", "--kind", "casino"],
        "unknown institution kind 'casino'",
    ),
    ("bad anchor", ["ledger", "verify", "--anchor", "12:abc"], "--anchor must look like SEQ:HASH"),
    (
        "anchor without a number",
        ["ledger", "verify", "--anchor", "x:" + "0" * 64],
        "--anchor must look like SEQ:HASH",
    ),
    ("unknown key", ["key", "revoke", "fsk_deadbeef"], "no key with prefix 'fsk_deadbeef'"),
    (
        "non-positive quota",
        ["key", "create", "ws-alpha", "--name", "x", "--rpm", "0"],
        "rpm_limit must be a positive",
    ),
    (
        "bad upstream URL",
        [
            "programme",
            "endpoint",
            "add",
            "ws-alpha",
            "r",
            "--backend",
            "openai",
            "--base-url",
            "ftp://x",
            "--model",
            "m",
        ],
        "openai backend setting base_url: Value error, must be an http",
    ),
    (
        "unknown backend",
        ["programme", "endpoint", "add", "ws-alpha", "r", "--backend", "bard"],
        "unknown backend 'bard'",
    ),
    (
        "trial setting out of range",
        [
            *("trial", "run", "--workspace", "ws-alpha", "--endpoint", "smollm2"),
            *("--suite", "customer_service", "--max-cases", "0"),
        ],
        "--max-cases must be at least 1",
    ),
    (
        "markup in user input",
        ["programme", "workspace", "create", "x[/red]", "--theme", "anti_fraud", "--bank", "Alpha Bank"],
        "workspace slug 'x[/red]' must be",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "args", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_1(
    db: str, make_any: Any, case: str, args: list[str], message: str
) -> None:
    before = ledger_size()
    done = finsandbox(*args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, however long
    assert "Traceback" not in done.stderr + done.stdout
    assert ledger_size() == before  # nothing half-done


def test_revoking_twice_is_an_error(db: str, make_any: Any) -> None:
    prefix = make_any.key_prefix
    assert finsandbox("key", "revoke", prefix).returncode == 0
    again = finsandbox("key", "revoke", prefix)
    assert again.returncode == 1
    assert again.stderr.startswith(f"error: key {prefix} was already revoked at ")
    assert "Traceback" not in again.stderr


def test_unreachable_database_is_one_line() -> None:
    from finsandbox.testing.processes import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    env = {**os.environ, "FINSANDBOX_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "finsandbox", "key", "list", "ws-alpha"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: the database cannot be used:"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.fixture
def make_any(db: str, pytestconfig: pytest.Config) -> Any:
    """A programme (workspace ws-alpha of Alpha Bank) for the error cases to collide with.

    `make_programme` lives in tests/conftest.py; every conftest is a module named `conftest`,
    so we take it from the plugin manager rather than import it by an ambiguous name.
    """
    wanted = Path(__file__).resolve().parent / "conftest.py"
    for plugin in pytestconfig.pluginmanager.get_plugins():
        origin = getattr(plugin, "__file__", None)
        if origin and Path(origin).resolve() == wanted:
            return plugin.make_programme()
    raise RuntimeError("tests/conftest.py is not loaded")
