"""Schemathesis over /openapi.json: generated requests to every documented operation, with a
supervisor's token on the API and a workspace key on the gateway (whose model is a stub upstream).
No response may be a 5xx, and every status and body must be the ones the document lists.
Bounded (a few examples per operation, derandomised) so the run stays well under a minute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from finsandbox.store import session_scope  # noqa: E402
from finsandbox.testing import processes  # noqa: E402
from tests.conftest import make_programme  # noqa: E402
from tests.supervision.helpers import make_supervisor, make_trial, rows, user  # noqa: E402

EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with processes.upstream() as proc:
        yield proc.url


def test_no_generated_request_reaches_a_5xx(db: str, upstream_url: str) -> None:
    from finsandbox.access.tokens import create_token
    from finsandbox.app import create_app

    prog = make_programme(
        endpoint="remote", backend="openai", config={"base_url": f"{upstream_url}/v1", "model": "stub-model"}
    )
    make_trial(prog.workspace_id, rows("tiny/answers", 2, 1))
    email = make_supervisor()
    with session_scope(write=True) as s:
        token = create_token(s, user(s, email), name="fuzz", actor="test").secret
    app = create_app()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            secret = prog.secret if case.path.startswith("/v1/") else token
            response = case.call(headers={"Authorization": f"Bearer {secret}"})
            statuses.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # the shrunk failure; every operation is still tried
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {exc}"[:600])
    assert not failures, "\n\n".join(failures)
    assert operations >= 30
    assert len(statuses) >= 5 * operations and {200, 400, 404} <= set(statuses)
