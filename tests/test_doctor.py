"""`finsandbox doctor`: one line per check, ok or what to do; exit status 1 when something must be fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from finsandbox import cli
from finsandbox.config import get_settings
from finsandbox.doctor import compare_build

PORTABLE = {"SSE3": "1", "AVX": "1", "AVX2": "1", "FMA": "1", "F16C": "1", "AVX512": "0", "LLAMAFILE": "1"}
HASWELL_FLAGS = {"pni", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2"}


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes that the settings see; the cached settings are rebuilt before and after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def doctor(*checks: str) -> Result:
    args = ["doctor"]
    for check in checks:
        args += ["--check", check]
    return CliRunner().invoke(cli.app, args)


def lines(result: Result) -> dict[str, tuple[str, str]]:
    """check -> (status, message) from the doctor's output."""
    found = {}
    for line in result.output.splitlines():
        status, check, message = line.split(maxsplit=2)
        found[check] = (status, message)
    return found


def test_a_portable_build_passes_on_a_cpu_that_has_its_features() -> None:
    finding = compare_build(PORTABLE, HASWELL_FLAGS)
    assert finding.status == "ok"
    assert "AVX2" in finding.message and "AVX512" not in finding.message


def test_a_build_for_amx_fails_where_the_cpu_lacks_it_and_says_how_to_rebuild() -> None:
    native = {**PORTABLE, "AVX512": "1", "AMX_INT8": "1"}
    finding = compare_build(native, HASWELL_FLAGS)
    assert finding.status == "fail"
    assert "AVX512" in finding.message and "AMX_INT8" in finding.message
    assert "scripts/install-llama.sh" in finding.message


def test_amx_the_cpu_advertises_but_the_kernel_does_not_grant_fails() -> None:
    """The case of a VM whose CPU lists AMX while its kernel refuses a process the tile state."""
    flags = HASWELL_FLAGS | {"avx512f", "amx_int8", "amx_tile"}
    native = {**PORTABLE, "AVX512": "1", "AMX_INT8": "1"}
    assert compare_build({**native, "AMX_GRANTED": "1"}, flags).status == "ok"
    refused = compare_build({**native, "AMX_GRANTED": "0"}, flags)
    assert refused.status == "fail" and "does not grant AMX" in refused.message


def test_where_the_os_lists_no_cpu_flags_the_build_is_named_and_not_judged() -> None:
    finding = compare_build(PORTABLE, None)
    assert finding.status == "warn" and "AVX2" in finding.message


def test_the_database_check_sees_a_migrated_database_and_one_without_schema(
    db: str, settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    status, message = lines(doctor("database"))["database"]
    assert status == "ok" and "newest migration" in message

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    settings_env.setenv("FINSANDBOX_DATABASE_URL", f"sqlite:///{empty}")
    get_settings.cache_clear()
    result = doctor("database", "disk")
    assert result.exit_code == 1
    found = lines(result)
    assert found["database"][0] == "fail" and "finsandbox db upgrade" in found["database"][1]
    assert found["disk"][0] in ("ok", "warn") and "free" in found["disk"][1]


def test_unreachable_redis_is_a_failure_naming_it_without_its_password(
    settings_env: pytest.MonkeyPatch,
) -> None:
    settings_env.setenv("FINSANDBOX_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    get_settings.cache_clear()
    result = doctor("redis")
    status, message = lines(result)["redis"]
    assert result.exit_code == 1 and status == "fail"
    assert "127.0.0.1:1" in message and "hunter2" not in message and "FINSANDBOX_REDIS_URL" in message


def test_an_unknown_check_is_one_line_and_exit_status_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finsandbox", "doctor", "--check", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: unknown check 'nope'; use one of cpu, model, database, redis, chromium, disk, port"
    )


@pytest.mark.slow
def test_cpu_and_model_checks_pass_on_this_machine(db: str) -> None:
    """The checks `make demo` runs first: llama.cpp loads and the embedded model answers, in children."""
    result = doctor("cpu", "model")
    found = lines(result)
    assert result.exit_code == 0, result.output
    assert found["model"][0] == "ok" and "answered 1 token" in found["model"][1]
    assert found["cpu"][0] in ("ok", "warn")


@pytest.mark.slow
def test_a_model_that_cannot_load_fails_its_check_with_the_reason(
    db: str, settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    settings_env.setenv("FINSANDBOX_MODEL_PATH", str(broken))
    get_settings.cache_clear()
    result = doctor("model")
    status, message = lines(result)["model"]
    assert result.exit_code == 1 and status == "fail"
    assert "exited with status" in message
