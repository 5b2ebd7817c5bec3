"""The `finetune` job kind: its parameters are checked (naming the field) and its cost estimated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from finsandbox.finetune import unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def test_the_finetune_kind_checks_its_parameters_and_estimates_cpu_seconds(
    db: str, make_programme: Any
) -> None:
    from finsandbox.access import get_user
    from finsandbox.errors import FinsandboxError
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.jobs import get_kind
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    prog = make_programme(slug="ws-job")
    rows = "".join(json.dumps({"prompt": f"q{i}", "completion": f"a{i}"}) + "\n" for i in range(10))
    kind = get_kind("finetune")
    with session_scope(write=True) as s:
        ws = get_workspace(s, prog.workspace)
        upload_dataset(
            s, get_user(s, prog.member_email), ws, name="pairs", filename="p.jsonl", data=rows.encode()
        )
        params = kind.validate(
            {"dataset": "pairs", "rank": "4", "batch_size": 2}, session=s, workspace_id=ws.id
        )
        assert params["rank"] == 4 and params["rows"] == 10 and len(params["dataset"]) == 32
        with pytest.raises(FinsandboxError) as err:
            kind.validate({"dataset": "nope"}, session=s, workspace_id=ws.id)
        assert err.value.param == "dataset"
        with pytest.raises(FinsandboxError) as err:
            kind.validate({"dataset": "pairs", "rank": 0}, session=s, workspace_id=ws.id)
        assert err.value.param == "rank"
    cost = kind.estimate(params)
    # 10 rows in batches of 2: 5 steps of at most 2 rows of 150 tokens.
    assert cost["tokens"] == 5 * 2 * 150 and cost["cpu_seconds"] > 0 and "gpu_seconds" not in cost
