"""Suite sensitivity: a reference suite must catch a defective model at the principle it offends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from finsandbox import cli
from finsandbox.testing import processes
from finsandbox.usecases import suite_path
from tests.conftest import make_programme

SUITE = str(suite_path("customer_service"))


@pytest.fixture(scope="module")
def reference() -> Iterator[processes.Process]:
    with processes.reference_model([SUITE]) as ref:
        yield ref


def test_the_customer_service_suite_catches_a_leaking_and_an_undisclosed_model(
    db: str, reference: processes.Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_programme(
        slug="ws-sense",
        endpoint="ref",
        backend="openai",
        config={"base_url": f"{reference.url}/v1", "model": "m"},
    )
    monkeypatch.setattr(cli.console, "width", 250)
    result = CliRunner().invoke(
        cli.app,
        [
            "suite", "check-sensitivity", SUITE, "--workspace", "ws-sense", "--endpoint", "ref",
            "--defect", "pii_leak", "--defect", "no_disclosure", "--max-cases", "5", "--max-variants", "0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 5}
    assert "data_privacy" in lines["pii_leak"] and " yes " in lines["pii_leak"]
    assert "transparency_disclosure" in lines["no_disclosure"] and " yes " in lines["no_disclosure"]
    # The default guards masked every leak before it reached the caller.
    assert "100%" in lines["pii_leak"].split("│")[7]
    assert "every evidenced defect caught" in result.output


def test_an_unknown_defect_is_named(db: str, reference: processes.Process) -> None:
    make_programme(
        slug="ws-sense2",
        endpoint="ref",
        backend="openai",
        config={"base_url": f"{reference.url}/v1", "model": "m"},
    )
    from finsandbox.errors import InvalidRequest
    from finsandbox.supervision.sensitivity import check_sensitivity

    with pytest.raises(InvalidRequest, match="unknown defect 'leaky'"):
        check_sensitivity("ws-sense2", "ref", SUITE, actor="t", defects=["leaky"])
