"""`finsandbox doctor`: can this machine run finsandbox, and if not, what to do.

Each check returns one finding: ok, warn (works, with a limit worth knowing) or fail (something
a user must fix), with the fix in the message. Anything that runs native code that could crash
(llama.cpp, Chromium) runs in a child process, so the doctor itself always finishes and reports.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from finsandbox.config import Settings, get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest

Status = Literal["ok", "warn", "fail"]
REBUILD = "rebuild it for a portable baseline: bash scripts/install-llama.sh .venv/bin/python"

# llama.cpp's compiled CPU features (llama_print_system_info) -> the kernel's name in /proc/cpuinfo.
# The kernel lists a feature only if the CPU has it and the OS enables it (AMX also needs a grant).
CPU_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX_VNNI": "avx_vnni",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
    "NEON": "asimd",
    "FP16_VA": "asimdhp",
    "DOTPROD": "asimddp",
    "MATMUL_INT8": "i8mm",
    "SVE": "sve",
    "SME": "sme",
}

# Runs in a child: loading llama.cpp could die on an illegal instruction. On x86-64 Linux it also
# asks the kernel for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), which a
# kernel or hypervisor that does not allow AMX refuses.
_CPU_PROBE = """
import ctypes, platform, sys
import llama_cpp
print(llama_cpp.llama_print_system_info().decode())
if sys.platform == "linux" and platform.machine() == "x86_64":
    libc = ctypes.CDLL(None, use_errno=True)
    print("AMX_GRANTED =", int(libc.syscall(158, 0x1023, 18) == 0))
"""


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str


def _cpu_flags() -> set[str] | None:
    """The CPU features the kernel reports as usable, or None where it does not say (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else None


def check_cpu(_settings: Settings) -> Finding:
    from finsandbox.gateway.backends.workers import describe_exit

    try:
        probe = subprocess.run(
            [sys.executable, "-c", _CPU_PROBE], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return Finding("cpu", "fail", "loading llama.cpp did not finish within 120 s")
    if probe.returncode != 0:
        why = describe_exit(probe.returncode, probe.stderr.splitlines())
        return Finding("cpu", "fail", f"loading llama.cpp {why}")
    return compare_build(dict(re.findall(r"(\w+) = (\d+)", probe.stdout)), _cpu_flags())


def compare_build(values: dict[str, str], flags: set[str] | None) -> Finding:
    """The CPU features llama.cpp was built for (`AVX2 = 1`, ...) against those the kernel allows."""
    built = [name for name in CPU_FLAGS if values.get(name) == "1"]
    if not built:
        return Finding(
            "cpu", "warn", "llama.cpp reports no CPU features; the model check shows whether it runs"
        )
    if flags is None:
        return Finding(
            "cpu",
            "warn",
            f"llama.cpp uses {' '.join(built)}; {platform.system()} does not list CPU flags to compare",
        )
    missing = [name for name in built if CPU_FLAGS[name] not in flags]
    if "AMX_INT8" in built and values.get("AMX_GRANTED") == "0" and "AMX_INT8" not in missing:
        missing.append("AMX_INT8 (the kernel does not grant AMX to processes)")
    if missing:
        return Finding(
            "cpu",
            "fail",
            f"llama.cpp was built for {', '.join(missing)}, which this CPU or OS does not allow: {REBUILD}",
        )
    return Finding("cpu", "ok", f"llama.cpp uses {' '.join(built)}; this CPU and OS allow them all")


def check_model(_settings: Settings) -> Finding:
    """One token from the embedded model, through the same worker process the gateway uses."""
    from finsandbox.gateway.backends import ChatRequest
    from finsandbox.gateway.backends.llamacpp import LlamaCppBackend, LlamaCppConfig

    async def one_token() -> str:
        backend = LlamaCppBackend(LlamaCppConfig())
        try:
            request = ChatRequest(
                messages=[{"role": "user", "content": "Say OK."}], max_tokens=1, temperature=0
            )
            result = await backend.complete(request)
            return f"{backend.model_name} answered {result.usage.completion_tokens} token"
        finally:
            await backend.aclose()

    started = time.perf_counter()
    try:
        said = asyncio.run(one_token())
    except FinsandboxError as exc:
        return Finding("model", "fail", exc.message)
    return Finding("model", "ok", f"{said} in {time.perf_counter() - started:.1f} s, in a worker process")


def check_database(settings: Settings) -> Finding:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from finsandbox.store.db import alembic_config

    url = settings.resolved_database_url
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return Finding(
            "database",
            "warn",
            f"no database yet at {shown}: `finsandbox db upgrade` creates it (serve and demo do)",
        )
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return Finding(
            "database", "fail", f"cannot use {shown}: {first}; check FINSANDBOX_DATABASE_URL and the server"
        )
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current == heads:
        return Finding(
            "database", "ok", f"{shown} is reachable and at the newest migration ({', '.join(heads)})"
        )
    if not current:
        return Finding("database", "fail", f"{shown} has no schema yet: run `finsandbox db upgrade`")
    return Finding(
        "database",
        "fail",
        f"{shown} is at migration {', '.join(sorted(current))}, the code expects {', '.join(sorted(heads))}: "
        "run `finsandbox db upgrade`",
    )


def check_redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding("redis", "ok", "not configured: quotas are counted in the database")
    import redis
    from sqlalchemy.engine import make_url

    shown = make_url(settings.redis_url).render_as_string(hide_password=True)
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return Finding(
            "redis", "fail", f"cannot reach {shown}: {exc}; start it or unset FINSANDBOX_REDIS_URL"
        )
    return Finding("redis", "ok", f"{shown} answers")


def check_chromium(_settings: Settings) -> Finding:
    """Debian's Chromium, which the browser tests drive; only they need it."""
    path = os.environ.get("FINSANDBOX_CHROMIUM", "/usr/bin/chromium")
    found = path if Path(path).exists() else shutil.which("chromium")
    if not found:
        return Finding(
            "chromium",
            "warn",
            "not installed, so the browser tests are skipped: install Debian's chromium "
            "(scripts/system-deps.sh does, as root) or set FINSANDBOX_CHROMIUM",
        )
    try:
        version = subprocess.run(
            [found, "--headless", "--no-sandbox", "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("chromium", "fail", f"{found} does not start ({type(exc).__name__})")
    if version.returncode != 0:
        return Finding("chromium", "fail", f"{found} does not start (exit status {version.returncode})")
    return Finding("chromium", "ok", f"{version.stdout.strip() or found} for the browser tests")


def check_disk(settings: Settings) -> Finding:
    place = settings.home
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free / 2**30
    where = f"{free:.1f} GiB free for the data directory {settings.home}"
    if free < 0.5:
        return Finding("disk", "fail", f"only {where}: free some space or set FINSANDBOX_HOME elsewhere")
    if free < 2:
        return Finding("disk", "warn", f"only {where}; trials and exit reports need more as they grow")
    return Finding("disk", "ok", where)


def check_port(settings: Settings) -> Finding:
    address = f"{settings.host}:{settings.port}"
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((settings.host, settings.port))
    except OSError as exc:
        return Finding(
            "port",
            "warn",
            f"{address} cannot be bound ({exc.strerror}): a server already running? Stop it, "
            "or set FINSANDBOX_PORT / pass --port",
        )
    return Finding("port", "ok", f"{address} is free for `finsandbox serve`")


CHECKS: dict[str, Callable[[Settings], Finding]] = {
    "cpu": check_cpu,
    "model": check_model,
    "database": check_database,
    "redis": check_redis,
    "chromium": check_chromium,
    "disk": check_disk,
    "port": check_port,
}


def run_checks(names: list[str] | None = None) -> list[Finding]:
    """The named checks (all by default), in the order given; an unexpected error is a failed check."""
    unknown = [n for n in names or [] if n not in CHECKS]
    if unknown:
        raise InvalidRequest(f"unknown check {unknown[0]!r}; use one of {', '.join(CHECKS)}", param="check")
    settings = get_settings()
    findings = []
    for name in names or list(CHECKS):
        try:
            findings.append(CHECKS[name](settings))
        except Exception as exc:  # a check must report, never crash the doctor
            findings.append(
                Finding(name, "fail", f"the check failed unexpectedly: {type(exc).__name__}: {exc}")
            )
    return findings
