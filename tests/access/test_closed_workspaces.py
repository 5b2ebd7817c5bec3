"""A withdrawn, declined or concluded use case does no more work: every key, token and session is
refused there with a 403 naming the state, its keys are revoked at the change, nothing new is created,
and what was done stays readable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from finsandbox.access.closure import CLOSED_STATES, WorkspaceClosed
from finsandbox.errors import PermissionDenied
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, User, Workspace
from tests.conftest import Programme, make_programme

STATES = sorted(CLOSED_STATES)


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    from finsandbox.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def close(prog: Programme, state: str) -> None:
    """Move the use case to `state` as the lifecycle does (declined comes before a workspace exists, so
    a declined workspace can only be met in data moved by hand; it is set directly)."""
    from finsandbox.programme.lifecycle import move

    with session_scope(write=True) as s:
        ws = s.get(Workspace, prog.workspace_id)
        assert ws is not None
        if state == "declined":
            ws.status = "declined"
        else:
            move(s, to=state, actor="user:sam@regulator.example.com", workspace=ws)


def chat(client: TestClient, prog: Programme, **extra: Any) -> Any:
    body = {"model": prog.endpoint, "messages": [{"role": "user", "content": "hello"}], **extra}
    return client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {prog.secret}"})


@pytest.mark.parametrize("state", STATES)
def test_keys_of_a_closed_workspace_get_a_403_naming_the_state(client: TestClient, state: str) -> None:
    prog = make_programme()
    auth = {"Authorization": f"Bearer {prog.secret}"}
    assert client.get("/v1/models", headers=auth).status_code == 200
    close(prog, state)
    for response in (
        client.get("/v1/models", headers=auth),
        chat(client, prog),
        chat(client, prog, stream=True),
    ):
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "workspace_closed"
        assert f"workspace ws-alpha is {state}" in error["message"]


@pytest.mark.parametrize("state", ["withdrawn", "concluded"])
def test_the_state_change_revokes_every_key_in_the_ledger(db: str, state: str) -> None:
    prog = make_programme()
    close(prog, state)
    with session_scope() as s:
        key = s.scalars(select(ApiKey).where(ApiKey.prefix == prog.key_prefix)).one()
        assert key.revoked_at is not None
        entry = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "key.revoked")).one()
        assert prog.key_prefix in entry.payload and state in entry.payload


@pytest.mark.parametrize("state", STATES)
def test_nothing_new_can_be_created_in_a_closed_workspace(db: str, state: str) -> None:
    from finsandbox.access import create_key
    from finsandbox.evals.trials import TrialConfig, create_trial
    from finsandbox.programme import add_endpoint, set_guard_policy

    prog = make_programme()
    close(prog, state)
    attempts = [
        lambda s, ws: create_key(s, ws, name="late", actor="test"),
        lambda s, ws: add_endpoint(s, ws, name="late", backend="llamacpp", config={}, actor="test"),
        lambda s, ws: set_guard_policy(s, ws, None, actor="test"),
        lambda s, ws: create_trial(
            s,
            TrialConfig(workspace=ws.slug, endpoint=prog.endpoint, suites=["customer_service"]),
            actor="test",
        ),
    ]
    for attempt in attempts:
        with session_scope(write=True) as s:
            ws = s.get(Workspace, prog.workspace_id)
            with pytest.raises(WorkspaceClosed, match=f"is {state}"):
                attempt(s, ws)
    with session_scope() as s:
        assert len(list(s.scalars(select(ApiKey)))) == 1


@pytest.mark.parametrize("state", STATES)
def test_members_keep_reading_but_change_nothing(db: str, state: str) -> None:
    from finsandbox.access.authz import OPEN_ONLY, authorize

    prog = make_programme()
    close(prog, state)
    with session_scope() as s:
        ws = s.get(Workspace, prog.workspace_id)
        owner = s.scalars(select(User).where(User.email == prog.member_email)).one()
        authorize(owner, "workspace.view", ws)
        authorize(owner, "trial.view", ws)
        for action in sorted(OPEN_ONLY - {"review.respond", "workspace.manage"}):
            with pytest.raises(PermissionDenied, match=f"is {state}") as info:
                authorize(owner, action, ws)
            assert info.value.code == "workspace_closed"


def test_personal_tokens_are_refused_work_in_a_closed_workspace(client: TestClient) -> None:
    from finsandbox.access.tokens import create_token
    from tests.supervision.helpers import make_trial, rows

    prog = make_programme()
    trial = make_trial(prog.workspace_id, rows("tiny/answers", 2, 1))
    with session_scope(write=True) as s:
        owner = s.scalars(select(User).where(User.email == prog.member_email)).one()
        token = {"Authorization": f"Bearer {create_token(s, owner, name='t', actor='test').secret}"}
    close(prog, "withdrawn")
    r = client.post(f"/api/v1/trials/{trial}/scorecards", headers=token)
    assert r.status_code == 403 and "is withdrawn" in r.json()["error"]["message"], r.text
    assert client.get(f"/api/v1/trials/{trial}/scorecards", headers=token).status_code == 200


def test_resuming_a_trial_of_a_closed_workspace_is_refused(db: str) -> None:
    from finsandbox.evals.trials import _begin
    from tests.supervision.helpers import make_trial, rows

    prog = make_programme()
    trial = make_trial(prog.workspace_id, rows("tiny/answers", 1, 0))
    with session_scope(write=True) as s:
        from finsandbox.store.models import Trial

        s.get(Trial, trial).status = "interrupted"
    close(prog, "concluded")
    with pytest.raises(WorkspaceClosed):
        _begin(trial, "test")


def test_resuming_a_crashed_trial_revokes_the_crashed_runs_key(db: str) -> None:
    from finsandbox.access import create_key
    from finsandbox.evals.trials import _begin
    from finsandbox.store.models import Trial
    from tests.supervision.helpers import make_trial, rows

    prog = make_programme()
    trial = make_trial(prog.workspace_id, rows("tiny/answers", 1, 0))
    with session_scope(write=True) as s:
        t = s.get(Trial, trial)
        crashed = create_key(s, t.workspace, name=f"trial {trial}", actor=f"trial:{trial}")
        t.status = "running"  # killed with SIGKILL: _finish never ran
        t.config = {**t.config, "key_prefix": crashed.key.prefix}
    _begin(trial, "test")
    with session_scope() as s:
        old = s.scalars(select(ApiKey).where(ApiKey.prefix == crashed.key.prefix)).one()
        assert old.revoked_at is not None
        active = [k for k in s.scalars(select(ApiKey)) if k.revoked_at is None and k.name.startswith("trial")]
        assert len(active) == 1 and active[0].prefix != crashed.key.prefix
