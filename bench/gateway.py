"""Gateway overhead: direct-to-upstream, through LiteLLM's proxy and through the gateway, in one run.

Starts the stub OpenAI-compatible upstream and a `finsandbox serve` process on loopback, with
an `openai`-backend endpoint pointing at the stub, in a throw-away data directory and database,
and (when it is installed: `pip install -e '.[bench]'`, or `--litellm PATH`) LiteLLM's proxy
with as many workers, no database, and one model at the same stub. Then, at each concurrency
level, it sends the same chat request straight to the upstream, through LiteLLM and through the
gateway (authentication, quotas, the default guard policy, metering and the ledger all on), and
prints requests/s and p50/p99 latency, the latency each adds and the gateway's CPU per request.
It ends with a verdict on the issue's targets: the gateway's p99 within 5x its p50 at every
level, at most 3 ms added p50 at concurrency 1, and at concurrency 16 at least 3x LiteLLM's
throughput.

    python bench/gateway.py [--requests 1000] [--concurrency 1,16,64] [--db sqlite|postgresql]
                            [--repeat 1] [--workers 2] [--litellm auto|off|PATH]

The load generator, the upstream and the gateway share this machine's cores, so absolute
numbers depend on it; the ratios and the added latency are what to compare between runs.
With --repeat N every cell is measured N times (interleaved) and the medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _common import database, set_up_workspace

TARGET_ADDED_P50_MS = 3.0  # at concurrency 1
TARGET_TAIL = 5.0  # p99 / p50, at every level
TARGET_VS_LITELLM = 3.0  # throughput ratio at concurrency 16
TARGET_CONCURRENCY = 16
LITELLM_KEY = f"sk-bench-{secrets.token_hex(24)}"


@dataclass
class Result:
    target: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cpu_seconds: float | None = None  # of the server measured, while measuring

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, max(0, round(q / 100 * len(data)) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a server process and its children (uvicorn workers) so far."""
    if pid is None:
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs)
    except psutil.Error:
        return None


def set_up_programme(upstream_url: str) -> str:
    """A bank, a workspace, an openai endpoint at the stub, and a key with a (generous) quota."""
    secret = set_up_workspace(upstream_url, key=True)
    assert secret is not None
    return secret


BODY_TEXT = "What is a credit card annual fee?"


class RawConnection:
    """A keep-alive HTTP/1.1 connection that sends one fixed request and reads the response.

    Far cheaper per request than a general client, so that on a small machine the load
    generator measures the servers rather than itself. Like any keep-alive client it sends the
    request again on a fresh connection when the server has closed an idle one.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    @classmethod
    async def open(cls, url: str, headers: dict[str, str], body: bytes) -> RawConnection:
        parsed = httpx.URL(url)
        assert parsed.port is not None
        lines = [
            "POST /v1/chat/completions HTTP/1.1",
            f"Host: {parsed.host}:{parsed.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        conn = cls(parsed.host, parsed.port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await conn.connect()
        return conn

    async def connect(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self) -> int:
        try:
            return await self._post()
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            self.reconnects += 1
            await self.connect()
            return await self._post()

    async def _post(self) -> int:
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def measure_raw(
    target: str,
    url: str,
    headers: dict[str, str],
    model: str,
    concurrency: int,
    total: int,
    pid: int | None = None,
) -> Result:
    import json

    body = json.dumps({"model": model, "messages": [{"role": "user", "content": BODY_TEXT}]}).encode()
    connections = [await RawConnection.open(url, headers, body) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    remaining = total
    try:
        for _ in range(3):  # warm up
            await asyncio.gather(*(c.post() for c in connections))

        async def worker(conn: RawConnection) -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                status = await conn.post()
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    errors += 1

        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        seconds = time.perf_counter() - started
        cpu_after = cpu_seconds(pid)
    finally:
        for c in connections:
            c.close()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Result(target, concurrency, len(latencies), seconds, latencies, errors, cpu)


async def measure_httpx(
    target: str,
    url: str,
    headers: dict[str, str],
    model: str,
    concurrency: int,
    total: int,
    pid: int | None = None,
) -> Result:
    body = {"model": model, "messages": [{"role": "user", "content": BODY_TEXT}]}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        # Warm up: open the connections and let both servers reach a steady state.
        for _ in range(min(3, total)):
            await asyncio.gather(
                *(client.post("/v1/chat/completions", json=body) for _ in range(concurrency))
            )
        remaining = total

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post("/v1/chat/completions", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu_after = cpu_seconds(pid)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Result(target, concurrency, len(latencies), seconds, latencies, errors, cpu)


def ledger_summary(expected_calls: int) -> str:
    from sqlalchemy import func, select

    from finsandbox import ledger
    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry, UsageRecord

    with session_scope() as s:
        report = ledger.verify(s)
        calls = s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "gateway.chat")
        )
        usage = s.scalar(select(func.count()).select_from(UsageRecord))
    state = "verified" if report.ok else f"BROKEN ({report.first})"
    match = "as expected" if calls == usage == expected_calls else f"EXPECTED {expected_calls}"
    return f"ledger {state}: {report.entries} entries, {calls} gateway.chat, {usage} usage rows ({match})"


def find_litellm(choice: str) -> str | None:
    """LiteLLM's proxy command: given, beside this Python, or on PATH; None when off or absent."""
    if choice == "off":
        return None
    if choice != "auto":
        return choice
    sibling = Path(sys.executable).with_name("litellm")
    return str(sibling) if sibling.exists() else shutil.which("litellm")


@contextmanager
def litellm_proxy(command: str, upstream_url: str, workers: int, home: Path) -> Iterator[Any]:
    """LiteLLM's proxy, no database, one model at the stub; offline (local cost map, no telemetry)."""
    from finsandbox.testing import processes

    config = home / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: stub\n"
        "    litellm_params:\n"
        f"      model: openai/stub-model\n      api_base: {upstream_url}/v1\n      api_key: bench\n"
        "litellm_settings:\n  telemetry: false\n"
        # A master key (no database): LiteLLM authenticates each call, as the gateway does.
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
    )
    port = processes.free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False")
    log = (home / "litellm.log").open("wb")
    # Several workers under gunicorn: uvicorn's own supervisor kills a worker that misses its 5 s
    # health check, which LiteLLM's proxy does while it imports on a busy machine.
    many = ["--run_gunicorn"] if workers > 1 else []
    proc = subprocess.Popen(
        [command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", str(workers), *many],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            processes.wait_ready(f"{url}/health/liveliness", proc, timeout=180)
        except RuntimeError as exc:
            raise SystemExit(f"LiteLLM did not start: {exc}; see {home / 'litellm.log'}") from None
        yield processes.Process(url=url, port=port, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per target and level")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="server processes, gateway and LiteLLM alike")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all levels; medians are printed")
    parser.add_argument(
        "--litellm",
        default="auto",
        help="LiteLLM's proxy command: auto (installed by the bench extra), off, or a path",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: a minimal keep-alive HTTP/1.1 client (default) or httpx.AsyncClient",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    measure = measure_raw if args.client == "raw" else measure_httpx
    litellm = find_litellm(args.litellm)
    if args.litellm == "auto" and litellm is None:
        print("LiteLLM is not installed (pip install -e '.[bench]'); measuring without it")

    with tempfile.TemporaryDirectory(prefix="finsandbox-bench-") as tmp, ExitStack() as stack:
        home = Path(tmp)
        os.environ["FINSANDBOX_HOME"] = str(home)
        os.environ.pop("FINSANDBOX_REDIS_URL", None)
        url = stack.enter_context(database(args.db, home))
        os.environ["FINSANDBOX_DATABASE_URL"] = url
        from finsandbox.testing import processes

        upstream = stack.enter_context(processes.upstream())
        secret = set_up_programme(upstream.url)
        gateway = stack.enter_context(processes.server(workers=args.workers))
        proxy = (
            stack.enter_context(litellm_proxy(litellm, upstream.url, args.workers, home)) if litellm else None
        )
        print(
            f"finsandbox gateway benchmark: {args.requests} requests per cell, "
            f"database {args.db}, {args.workers} worker(s) each, {args.client} client, "
            f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
            f"{args.repeat} round(s), LiteLLM {litellm_version(litellm) if proxy else 'not measured'}, "
            f"load average {load_average()} at start"
        )
        rounds: dict[int, list[tuple[Result, Result | None, Result]]] = {c: [] for c in levels}
        calls = 0
        for _ in range(args.repeat):
            for c in levels:
                direct = asyncio.run(
                    measure("direct", upstream.url, {}, "stub-model", c, args.requests, upstream.proc.pid)
                )
                other = None
                if proxy is not None:
                    try:
                        other = asyncio.run(
                            measure("litellm", proxy.url, {"Authorization": f"Bearer {LITELLM_KEY}"},
                                    "stub", c, args.requests, proxy.proc.pid)
                        )  # fmt: skip
                    except (OSError, asyncio.IncompleteReadError, ValueError):
                        log = (home / "litellm.log").read_text(errors="replace")[-3000:]
                        raise SystemExit(f"LiteLLM failed at concurrency {c}; its log ends:\n{log}") from None
                via = asyncio.run(
                    measure(
                        "gateway", gateway.url, {"Authorization": f"Bearer {secret}"}, "stub",
                        c, args.requests, gateway.proc.pid,
                    )
                )  # fmt: skip
                calls += via.requests + min(3, args.requests) * c
                rounds[c].append((direct, other, via))
        print_table([summarise(c, rounds[c]) for c in levels])
        print(f"load average {load_average()} at the end")
        print(ledger_summary(calls))
    return 0


def litellm_version(command: str | None) -> str:
    """The installed LiteLLM's version, read from the metadata beside its command."""
    if command is None:
        return "absent"
    python = Path(command).with_name("python")
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(version unknown)"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


@dataclass
class Cell:
    """One concurrency level: medians over the rounds of each figure."""

    concurrency: int
    rounds: int
    direct_rps: float
    direct_p50: float
    direct_p99: float
    litellm_rps: float | None
    litellm_p50: float | None
    litellm_p99: float | None
    rps: float
    p50: float
    p99: float
    cpu_ms: float | None  # gateway CPU time per request
    errors: int

    @property
    def added_p50(self) -> float:
        return self.p50 - self.direct_p50

    @property
    def tail(self) -> float:
        return self.p99 / self.p50 if self.p50 else float("inf")


def summarise(concurrency: int, rounds: list[tuple[Result, Result | None, Result]]) -> Cell:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    cpu = [
        v.cpu_seconds * 1000 / v.requests for _, _, v in rounds if v.cpu_seconds is not None and v.requests
    ]
    others = [o for _, o, _ in rounds if o is not None]
    return Cell(
        concurrency=concurrency,
        rounds=len(rounds),
        direct_rps=med([d.rps for d, _, _ in rounds]),
        direct_p50=med([d.p50 for d, _, _ in rounds]),
        direct_p99=med([d.pct(99) for d, _, _ in rounds]),
        litellm_rps=med([o.rps for o in others]) if others else None,
        litellm_p50=med([o.p50 for o in others]) if others else None,
        litellm_p99=med([o.pct(99) for o in others]) if others else None,
        rps=med([v.rps for _, _, v in rounds]),
        p50=med([v.p50 for _, _, v in rounds]),
        p99=med([v.pct(99) for _, _, v in rounds]),
        cpu_ms=med(cpu) if cpu else None,
        errors=sum(d.errors + v.errors + (o.errors if o else 0) for d, o, v in rounds),
    )


def print_table(cells: list[Cell]) -> None:
    header = (
        f"{'conc':>5} | {'direct req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'LiteLLM req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'gateway req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'p99/p50':>7} {'+p50 ms':>8} {'vs LiteLLM':>10} {'gw CPU ms/req':>13} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for cell in cells:
        cpu = f"{cell.cpu_ms:>13.2f}" if cell.cpu_ms is not None else f"{'n/a':>13}"
        if cell.litellm_rps is not None:
            lite = f"{cell.litellm_rps:>13.0f} {cell.litellm_p50:>7.2f} {cell.litellm_p99:>7.2f}"
            ratio = f"{cell.rps / cell.litellm_rps:>9.2f}x"
        else:
            lite, ratio = f"{'n/a':>13} {'':>7} {'':>7}", f"{'n/a':>10}"
        print(
            f"{cell.concurrency:>5} | "
            f"{cell.direct_rps:>12.0f} {cell.direct_p50:>7.2f} {cell.direct_p99:>7.2f} | {lite} | "
            f"{cell.rps:>13.0f} {cell.p50:>7.2f} {cell.p99:>7.2f} | "
            f"{cell.tail:>7.2f} {cell.added_p50:>8.2f} {ratio} {cpu} {cell.errors:>6}"
        )
    rounds = cells[0].rounds if cells else 1
    print(f"+p50 is the latency the gateway adds to direct; figures are medians of {rounds} round(s)")
    print(verdict(cells))


def verdict(cells: list[Cell]) -> str:
    """Whether each of the issue's targets is met, with the figure that decides it."""
    lines = []
    for cell in cells:
        ok = cell.tail <= TARGET_TAIL
        lines.append(
            f"{'MET   ' if ok else 'MISSED'} p99 <= {TARGET_TAIL:g} x p50 at concurrency {cell.concurrency}: "
            f"{cell.p99:.1f} / {cell.p50:.1f} ms = {cell.tail:.2f}"
        )
    one = next((c for c in cells if c.concurrency == 1), None)
    if one is None:
        lines.append("not measured: added p50 at concurrency 1 (add 1 to --concurrency)")
    else:
        ok = one.added_p50 <= TARGET_ADDED_P50_MS
        cpu = f"; the gateway spends {one.cpu_ms:.2f} ms of CPU per call" if one.cpu_ms else ""
        lines.append(
            f"{'MET   ' if ok else 'MISSED'} added p50 <= {TARGET_ADDED_P50_MS:g} ms at concurrency 1: "
            f"{one.added_p50:.2f} ms{cpu}"
        )
    cell = next((c for c in cells if c.concurrency == TARGET_CONCURRENCY), None)
    if cell is None or cell.litellm_rps is None:
        lines.append(f"not measured: throughput against LiteLLM at concurrency {TARGET_CONCURRENCY}")
    else:
        ratio = cell.rps / cell.litellm_rps
        lines.append(
            f"{'MET   ' if ratio >= TARGET_VS_LITELLM else 'MISSED'} throughput >= {TARGET_VS_LITELLM:g} x "
            f"LiteLLM at concurrency {TARGET_CONCURRENCY}: {cell.rps:.0f} / {cell.litellm_rps:.0f} req/s "
            f"= {ratio:.2f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
