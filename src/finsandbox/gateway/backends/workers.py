"""Supervised worker processes: native model code runs in a child, never in the gateway.

A `WorkerProcess` starts its child lazily, waits for the child's READY line (which carries
the loopback port it listens on), notices when the child dies, and says why in words a user
can act on (the signal and what it usually means). A child that dies while serving is
restarted at once in the background; repeated deaths back off (0.5 s doubling to 30 s), and
one that dies before it is ready is restarted by the next call after the back-off, so a model
that cannot run on this machine costs a failed call, not a busy loop.

The supervision is thread-based, not tied to an event loop: the gateway's backends are shared
by every loop of the process (the server's, a test client's).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from finsandbox.errors import UpstreamUnavailable

log = logging.getLogger("finsandbox.workers")

READY = "FINSANDBOX-WORKER-READY"
EXIT_UNSERVABLE = 3
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# A child that served this long before dying starts a fresh back-off sequence.
STABLE_SECONDS = 60.0
# A caller waits out a back-off this short; a longer one fails the call at once.
MAX_WAIT_FOR_RESTART = 5.0
CRASHED = "backend_crashed"

_SIGNAL_MEANING = {
    signal.SIGILL: (
        "illegal instruction: the llama.cpp build uses a CPU instruction this machine does not "
        "allow; rebuild it with scripts/install-llama.sh and run `finsandbox doctor`"
    ),
    signal.SIGKILL: "killed, by an operator or by the kernel when memory ran out",
    signal.SIGSEGV: "segmentation fault in native code",
    signal.SIGBUS: "bus error in native code",
    signal.SIGABRT: "aborted by native code",
    signal.SIGFPE: "arithmetic fault in native code",
}


def describe_exit(returncode: int, output: list[str]) -> str:
    """Why a child ended, for a message: its signal and what that usually means, or its last words."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"was killed by signal {-returncode}"
        meaning = _SIGNAL_MEANING.get(sig)
        return f"was killed by {sig.name} ({meaning})" if meaning else f"was killed by {sig.name}"
    last = next((line for line in reversed(output) if line.strip()), "")
    if returncode == EXIT_UNSERVABLE and last:
        return f"cannot serve the model: {last}"
    return f"exited with status {returncode}" + (f": {last}" if last else "")


@dataclass(frozen=True)
class Incarnation:
    """One run of the child: the n-th start, its process id and the port it listens on."""

    number: int
    pid: int
    port: int


class WorkerProcess:
    """One supervised child process that prints `READY <port>` once it serves on 127.0.0.1."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        stdin_line: str = "",
        start_timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._argv = argv
        self._stdin_line = stdin_line
        self._start_timeout = start_timeout
        self._env = dict(env) if env is not None else None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._number = 0
        self._port: int | None = None
        self._started_at = 0.0
        self._ready_at: float | None = None
        self._output: deque[str] = deque(maxlen=40)
        self._exits: dict[int, str] = {}
        self._kill_reasons: dict[int, str] = {}
        self._failures = 0
        self._not_before = 0.0
        self._closed = False
        self.restarts = 0
        self.last_exit: str | None = None
        _all.add(self)

    # -- state, for health views and tests ---------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The running child's process id, once it is ready; None while starting or stopped."""
        with self._lock:
            return self._proc.pid if self._proc is not None and self._port is not None else None

    def state(self) -> dict[str, object]:
        with self._lock:
            if self._proc is None:
                status = "stopped" if self.last_exit is None else "restarting"
            else:
                status = "ready" if self._port is not None else "starting"
            return {
                "status": status,
                "pid": self._proc.pid if self._proc is not None else None,
                "restarts": self.restarts,
                "last_exit": self.last_exit,
            }

    # -- starting and waiting ------------------------------------------------------------------
    async def ready(self) -> Incarnation:
        """The running incarnation, starting the child (or waiting for it) as needed.

        Raises a 503 `backend_crashed` error when the child dies while starting, or when the
        back-off after repeated crashes is longer than a caller should wait.
        """
        waited_for = 0
        while True:
            wait = 0.0
            with self._lock:
                if self._closed:
                    raise UpstreamUnavailable(f"the {self.name} is shutting down")
                if waited_for in self._exits:
                    raise UpstreamUnavailable(f"the {self.name} {self._exits[waited_for]}", code=CRASHED)
                if self._proc is None:
                    wait = self._not_before - time.monotonic()
                    if wait > MAX_WAIT_FOR_RESTART:
                        raise UpstreamUnavailable(
                            f"the {self.name} {self.last_exit}; it restarts in {wait:.0f} s", code=CRASHED
                        )
                    if wait <= 0:
                        self._spawn()
                proc = self._proc
                if proc is not None:
                    waited_for = self._number
                    if self._port is not None:
                        return Incarnation(self._number, proc.pid, self._port)
                    if time.monotonic() - self._started_at > self._start_timeout:
                        self._kill_reasons[self._number] = (
                            f"did not become ready within {self._start_timeout:.0f} s and was stopped"
                        )
                        proc.kill()
            await asyncio.sleep(0.02 if proc is not None else max(0.02, wait))

    def _spawn(self) -> None:
        """Start a new incarnation; the caller holds the lock."""
        self._number += 1
        self._port = None
        self._ready_at = None
        self._output = deque(maxlen=40)
        self._started_at = time.monotonic()
        env = {**os.environ, **(self._env or {})}
        proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own session: a Ctrl-C meant for the gateway must not reach the child first.
            start_new_session=True,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write((self._stdin_line + "\n").encode("utf-8"))
            proc.stdin.flush()
        except OSError:
            pass  # it died at once; the watcher reports why
        self._proc = proc
        threading.Thread(
            target=self._watch, args=(proc, self._number, self._output), daemon=True, name=f"watch-{proc.pid}"
        ).start()
        log.info("%s started (pid %s)", self.name, proc.pid)

    def _watch(self, proc: subprocess.Popen[bytes], number: int, output: deque[str]) -> None:
        """Read the child's output until it ends, then record why and schedule the restart."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line.startswith(READY):
                with self._lock:
                    if self._proc is proc:
                        self._port = int(line.split()[1])
                        self._ready_at = time.monotonic()
            elif line:
                output.append(line)
        returncode = proc.wait()
        with self._lock:
            if self._proc is not proc:
                return
            self._proc = None
            self._port = None
            served = self._ready_at is not None
            if self._closed:
                self._exits[number] = "was stopped"
                return
            description = self._kill_reasons.pop(number, None) or describe_exit(returncode, list(output))
            self._exits[number] = description
            for old in [n for n in self._exits if n < number - 8]:
                del self._exits[old]
            self.last_exit = description
            self.restarts += 1
            if served and self._ready_at is not None and time.monotonic() - self._ready_at > STABLE_SECONDS:
                self._failures = 0
            self._failures += 1
            delay = 0.0 if self._failures == 1 else BACKOFF_FIRST * 2 ** (self._failures - 2)
            delay = min(BACKOFF_MAX, delay)
            self._not_before = time.monotonic() + delay
        log.warning("%s (pid %s) %s; restarting in %.1f s", self.name, proc.pid, description, delay)
        if served:
            timer = threading.Timer(delay, self._restart_in_background)
            timer.daemon = True
            timer.start()

    def _restart_in_background(self) -> None:
        with self._lock:
            if self._proc is None and not self._closed:
                self._spawn()

    async def exit_of(self, incarnation: Incarnation, timeout: float = 2.0) -> str | None:
        """Why the incarnation ended, waiting up to `timeout` for a dying child; None if it lives."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if incarnation.number in self._exits:
                    return self._exits[incarnation.number]
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.02)

    # -- stopping ------------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child for good (the gateway is shutting down); a later call does not restart it."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is None:
            return
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass


_all: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for worker in list(_all):
        worker.stop(timeout=2.0)
