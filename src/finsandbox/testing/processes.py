"""Start a finsandbox server (or the stub upstream) as a real process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    url: str
    port: int
    proc: subprocess.Popen[bytes]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout} s")


@contextmanager
def running(args: list[str], health_path: str, env: Mapping[str, str] | None = None) -> Iterator[Process]:
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    # A file, not a pipe: a pipe nobody reads fills up and blocks a chatty server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)], env=full_env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url + health_path, proc)
        except RuntimeError as exc:
            log.seek(0)
            raise RuntimeError(f"{exc}; output: {log.read().decode(errors='replace')[-3000:]}") from None
        yield Process(url=url, port=port, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def server(env: Mapping[str, str] | None = None, workers: int = 1):  # type: ignore[no-untyped-def]
    """A `finsandbox serve` process; the database is chosen by FINSANDBOX_DATABASE_URL in env."""
    return running(
        ["-m", "finsandbox", "serve", "--workers", str(workers), "--log-level", "warning"], "/healthz", env
    )


def upstream(delay_ms: float = 0.0):  # type: ignore[no-untyped-def]
    """The stub OpenAI-compatible upstream."""
    return running(["-m", "finsandbox.testing.upstream", "--delay-ms", str(delay_ms)], "/v1/models")


def reference_model(suites: list[str], seed: int = 0):  # type: ignore[no-untyped-def]
    """The reference model (right answers for the suites' cases), as an OpenAI-compatible upstream."""
    args = ["-m", "finsandbox.testing.reference_model", "--seed", str(seed)]
    for suite in suites:
        args += ["--suite", suite]
    return running(args, "/v1/models")
