"""Gateway overhead: direct-to-upstream versus through the gateway, in one run.

Starts the stub OpenAI-compatible upstream and a `finsandbox serve` process on loopback, with
an `openai`-backend endpoint pointing at the stub, in a throw-away data directory and database.
Then, at each concurrency level, it sends the same chat request straight to the upstream and
through the gateway (authentication, quotas, metering and the ledger all on), and prints
requests/s and p50/p99 latency with the gateway/direct ratio, the latency the gateway adds,
and the gateway's CPU time per request. It ends with a verdict on the issue's target (p50
added latency at most 5 ms at concurrency 16) and, when it is missed, the throughput the
target would need: in a closed loop of c clients, latency = c / throughput (Little's law).

    python bench/gateway.py [--requests 1000] [--concurrency 1,16,64] [--db sqlite|postgresql]
                            [--repeat 1] [--workers 1]

The load generator, the upstream and the gateway share this machine's cores, so absolute
numbers depend on it; the ratios and the added latency are what to compare between runs.
With --repeat N every cell is measured N times (interleaved) and the medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from _common import database, set_up_workspace

TARGET_ADDED_P50_MS = 5.0
TARGET_CONCURRENCY = 16


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
    generator measures the servers rather than itself.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    @classmethod
    async def open(cls, url: str, headers: dict[str, str], body: bytes) -> RawConnection:
        parsed = httpx.URL(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        lines = [
            "POST /v1/chat/completions HTTP/1.1",
            f"Host: {parsed.host}:{parsed.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        return cls(reader, writer, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def post(self) -> int:
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
        self.writer.close()


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per target and level")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="gateway server processes")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all levels; medians are printed")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: a minimal keep-alive HTTP/1.1 client (default) or httpx.AsyncClient",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    measure = measure_raw if args.client == "raw" else measure_httpx

    with tempfile.TemporaryDirectory(prefix="finsandbox-bench-") as tmp:
        home = Path(tmp)
        os.environ["FINSANDBOX_HOME"] = str(home)
        os.environ.pop("FINSANDBOX_REDIS_URL", None)
        with database(args.db, home) as url:
            os.environ["FINSANDBOX_DATABASE_URL"] = url
            from finsandbox.testing import processes

            with processes.upstream() as upstream:
                secret = set_up_programme(upstream.url)
                with processes.server(workers=args.workers) as gateway:
                    print(
                        f"finsandbox gateway benchmark: {args.requests} requests per cell, "
                        f"database {args.db}, {args.workers} gateway worker(s), {args.client} client, "
                        f"{os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
                        f"{args.repeat} round(s), load average {load_average()} at start"
                    )
                    rounds: dict[int, list[tuple[Result, Result]]] = {c: [] for c in levels}
                    calls = 0
                    for _ in range(args.repeat):
                        for c in levels:
                            direct = asyncio.run(
                                measure(
                                    "direct", upstream.url, {}, "stub-model", c, args.requests,
                                    upstream.proc.pid,
                                )
                            )  # fmt: skip
                            via = asyncio.run(
                                measure(
                                    "gateway", gateway.url, {"Authorization": f"Bearer {secret}"}, "stub",
                                    c, args.requests, gateway.proc.pid,
                                )
                            )  # fmt: skip
                            calls += via.requests + min(3, args.requests) * c
                            rounds[c].append((direct, via))
                    print_table([summarise(c, rounds[c]) for c in levels], args.workers)
                    print(f"load average {load_average()} at the end")
                    print(ledger_summary(calls))
    return 0


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
    rps: float
    p50: float
    p99: float
    cpu_ms: float | None  # gateway CPU time per request
    errors: int

    @property
    def added_p50(self) -> float:
        return self.p50 - self.direct_p50

    @property
    def added_p99(self) -> float:
        return self.p99 - self.direct_p99


def summarise(concurrency: int, rounds: list[tuple[Result, Result]]) -> Cell:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    cpu = [v.cpu_seconds * 1000 / v.requests for _, v in rounds if v.cpu_seconds is not None and v.requests]
    return Cell(
        concurrency=concurrency,
        rounds=len(rounds),
        direct_rps=med([d.rps for d, _ in rounds]),
        direct_p50=med([d.p50 for d, _ in rounds]),
        direct_p99=med([d.pct(99) for d, _ in rounds]),
        rps=med([v.rps for _, v in rounds]),
        p50=med([v.p50 for _, v in rounds]),
        p99=med([v.pct(99) for _, v in rounds]),
        cpu_ms=med(cpu) if cpu else None,
        errors=sum(d.errors + v.errors for d, v in rounds),
    )


def print_table(cells: list[Cell], workers: int = 1) -> None:
    header = (
        f"{'conc':>5} | {'direct req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'gateway req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'rps ratio':>9} {'p50 ratio':>9} {'p99 ratio':>9} {'+p50 ms':>8} {'+p99 ms':>8} "
        f"{'gw CPU ms/req':>13} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for cell in cells:
        cpu = f"{cell.cpu_ms:>13.2f}" if cell.cpu_ms is not None else f"{'n/a':>13}"
        print(
            f"{cell.concurrency:>5} | "
            f"{cell.direct_rps:>12.0f} {cell.direct_p50:>7.2f} {cell.direct_p99:>7.2f} | "
            f"{cell.rps:>13.0f} {cell.p50:>7.2f} {cell.p99:>7.2f} | "
            f"{cell.rps / cell.direct_rps:>9.3f} {cell.p50 / cell.direct_p50:>9.2f} "
            f"{cell.p99 / cell.direct_p99:>9.2f} {cell.added_p50:>8.2f} {cell.added_p99:>8.2f} {cpu} "
            f"{cell.errors:>6}"
        )
    rounds = cells[0].rounds if cells else 1
    print(
        "ratios are gateway/direct; +p50/+p99 are the latency the gateway adds; "
        f"figures are medians of {rounds} round(s)"
    )
    print(verdict(cells, workers))


def verdict(cells: list[Cell], workers: int = 1) -> str:
    """Whether the issue's target is met; if not, what it would take (Little's law)."""
    cell = next((c for c in cells if c.concurrency == TARGET_CONCURRENCY), None)
    if cell is None:
        return f"target not measured: add concurrency {TARGET_CONCURRENCY} to --concurrency"
    ok = cell.added_p50 <= TARGET_ADDED_P50_MS
    line = (
        f"TARGET {'MET' if ok else 'MISSED'}: p50 added latency at concurrency {TARGET_CONCURRENCY} is "
        f"{cell.added_p50:.2f} ms (target <= {TARGET_ADDED_P50_MS:g} ms)"
    )
    if ok:
        return line
    # A closed loop of c clients keeps c requests in flight: mean latency = c / throughput.
    needed_rps = TARGET_CONCURRENCY / ((cell.direct_p50 + TARGET_ADDED_P50_MS) / 1000)
    line += (
        f"\n  Little's law: {TARGET_CONCURRENCY} clients in a closed loop see latency = "
        f"{TARGET_CONCURRENCY} / throughput; {cell.rps:.0f} req/s gives "
        f"{1000 * TARGET_CONCURRENCY / cell.rps:.1f} ms mean, and {cell.direct_p50:.2f} + "
        f"{TARGET_ADDED_P50_MS:g} ms needs >= {needed_rps:.0f} req/s through the gateway"
    )
    if cell.cpu_ms:
        line += (
            f"\n  the gateway spends {cell.cpu_ms:.2f} ms of CPU per request, a ceiling of "
            f"{1000 / cell.cpu_ms:.0f} req/s per fully used core ({workers} worker process(es)); the target "
            f"needs <= {1000 * min(workers, os.cpu_count() or 1) / needed_rps:.2f} ms per request even with "
            f"{min(workers, os.cpu_count() or 1)} core(s) to itself"
        )
    return line


if __name__ == "__main__":
    raise SystemExit(main())
