"""Trial and case headers are honoured only for the calling key's own workspace: a bank cannot write
evidence into another bank's trial, and evidence lookups never pick up another workspace's calls."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from finsandbox.store import session_scope
from finsandbox.store.models import LedgerEntry, Trial
from finsandbox.testing import processes
from tests.gateway.gateway_support import (
    assert_ledger_consistent,
    assert_openai_error,
    auth,
    chat_body,
    quota_requests,
    reset_upstream,
    upstream_config,
    usage_rows,
)


@pytest.fixture
def banks(db: str, make_programme: Any, upstream: processes.Process) -> tuple[Any, Any, str]:
    reset_upstream(upstream.url)
    cfg = upstream_config(upstream.url)
    alpha = make_programme(
        slug="ws-alpha", bank="Alpha Bank", endpoint="remote", backend="openai", config=cfg
    )
    beta = make_programme(slug="ws-beta", bank="Beta Bank", endpoint="remote", backend="openai", config=cfg)
    with session_scope(write=True) as s:
        trial = Trial(workspace_id=beta.workspace_id, name="beta trial", created_by="test", status="running")
        s.add(trial)
        s.flush()
        return alpha, beta, trial.id


def _call(client: TestClient, prog: Any, trial: str, case: str = "suite/recipe#1") -> Any:
    headers = {**auth(prog.secret), "X-Finsandbox-Trial": trial, "X-Finsandbox-Case": case}
    return client.post("/v1/chat/completions", json=chat_body(prog.endpoint), headers=headers)


@pytest.mark.parametrize("which", ["foreign", "unknown"])
def test_a_key_cannot_write_evidence_into_another_workspaces_trial(
    client: TestClient, banks: tuple[Any, Any, str], which: str
) -> None:
    alpha, _beta, beta_trial = banks
    trial = beta_trial if which == "foreign" else "0" * 32
    error = assert_openai_error(
        _call(client, alpha, trial), 403, code="trial_not_in_workspace", says="not a trial of this key"
    )
    assert error["param"] == "X-Finsandbox-Trial"
    # Nothing was metered or counted, but the attempt is on the record, in the caller's workspace.
    assert usage_rows() == [] and quota_requests(alpha.key_prefix) == 0
    with session_scope() as s:
        refused = s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "gateway.refused")).one()
        assert refused.workspace_id == alpha.workspace_id and trial in refused.payload
    assert_ledger_consistent()


def test_a_key_writes_evidence_into_its_own_trial(client: TestClient, banks: tuple[Any, Any, str]) -> None:
    _alpha, beta, trial = banks
    response = _call(client, beta, trial)
    assert response.status_code == 200, response.text
    (row,) = usage_rows()
    assert row.trial_id == trial and row.workspace_id == beta.workspace_id and row.case_id == "suite/recipe#1"


def test_case_evidence_ignores_calls_of_other_workspaces(db: str, banks: tuple[Any, Any, str]) -> None:
    """Even a usage row left by an older version (before the header was checked) is not evidence."""
    from finsandbox import ledger
    from finsandbox.evals.worker import _gateway_evidence
    from finsandbox.store.models import ApiKey, UsageRecord

    alpha, _beta, trial = banks
    with session_scope(write=True) as s:
        entry = ledger.append(
            s,
            actor=f"key:{alpha.key_prefix}",
            kind="gateway.chat",
            workspace_id=alpha.workspace_id,
            payload={"status": "blocked", "guard_decisions": [{"guard": "planted"}]},
        )
        key_id = s.scalars(select(ApiKey.id).where(ApiKey.prefix == alpha.key_prefix)).one()
        s.add(
            UsageRecord(
                workspace_id=alpha.workspace_id,
                key_id=key_id,
                endpoint="remote",
                backend="openai",
                trial_id=trial,
                case_id="suite/recipe#1",
                status="blocked",
                ledger_seq=entry.seq,
            )
        )
    seqs, decisions, blocked = _gateway_evidence(trial, "suite/recipe#1")
    assert (seqs, decisions, blocked) == ([], [], False)
