"""Gateway overhead: direct-to-upstream versus through the gateway, in one run.

Starts the stub OpenAI-compatible upstream and a `finsandbox serve` process on loopback, with
an `openai`-backend endpoint pointing at the stub, in a throw-away data directory and database.
Then, at each concurrency level, it sends the same chat request straight to the upstream and
through the gateway (authentication, quotas, metering and the ledger all on), and prints
requests/s and p50/p99 latency with the gateway/direct ratio.

    python bench/gateway.py [--requests 1000] [--concurrency 1,16,64] [--db sqlite|postgresql]

The load generator, the upstream and the gateway share this machine's cores, so absolute
numbers depend on it; the ratios and the added latency are what to compare between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TARGET_ADDED_P50_MS = 5.0
TARGET_CONCURRENCY = 16
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Result:
    target: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

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


@contextmanager
def database(kind: str, home: Path) -> Iterator[str]:
    """A fresh database URL for this run; a PostgreSQL database is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'bench.db'}"
        return
    import psycopg

    base_url = os.environ.get("FINSANDBOX_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    admin = base_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"finsandbox_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base_url.rpartition('/')[0]}/{name}"
    finally:
        from finsandbox.store import dispose_engines

        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_up_programme(upstream_url: str) -> str:
    """A bank, a workspace, an openai endpoint at the stub, and a key with a (generous) quota."""
    from finsandbox.access import create_institution, create_key
    from finsandbox.programme import add_endpoint, create_workspace
    from finsandbox.store import session_scope, upgrade

    upgrade()
    with session_scope(write=True) as s:
        bank = create_institution(s, name="Bench Bank", kind="bank", actor="bench")
        ws = create_workspace(
            s, slug="bench", name="bench", theme="customer_service", bank=bank, actor="bench"
        )
        add_endpoint(
            s, ws, name="stub", backend="openai",
            config={"base_url": f"{upstream_url}/v1", "model": "stub-model"}, actor="bench",
        )  # fmt: skip
        return create_key(s, ws, name="bench", actor="bench", rpm_limit=10_000_000).secret


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
    target: str, url: str, headers: dict[str, str], model: str, concurrency: int, total: int
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

        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        seconds = time.perf_counter() - started
    finally:
        for c in connections:
            c.close()
    return Result(target, concurrency, len(latencies), seconds, latencies, errors)


async def measure_httpx(
    target: str, url: str, headers: dict[str, str], model: str, concurrency: int, total: int
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

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(target, concurrency, len(latencies), seconds, latencies, errors)


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
                        f"{os.cpu_count()} CPU(s), "
                        f"Python {sys.version.split()[0]}"
                    )
                    results: list[tuple[Result, Result]] = []
                    calls = 0
                    for c in levels:
                        direct = asyncio.run(
                            measure("direct", upstream.url, {}, "stub-model", c, args.requests)
                        )
                        via = asyncio.run(
                            measure(
                                "gateway", gateway.url, {"Authorization": f"Bearer {secret}"}, "stub", c,
                                args.requests,
                            )
                        )  # fmt: skip
                        calls += via.requests + min(3, args.requests) * c
                        results.append((direct, via))
                    print_table(results)
                    print(ledger_summary(calls))
    return 0


def print_table(results: list[tuple[Result, Result]]) -> None:
    header = (
        f"{'conc':>5} | {'direct req/s':>12} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'gateway req/s':>13} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'rps ratio':>9} {'p50 ratio':>9} {'p99 ratio':>9} {'+p50 ms':>8} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    verdict = ""
    for direct, via in results:
        added = via.p50 - direct.p50
        print(
            f"{direct.concurrency:>5} | {direct.rps:>12.0f} {direct.p50:>7.2f} {direct.pct(99):>7.2f} | "
            f"{via.rps:>13.0f} {via.p50:>7.2f} {via.pct(99):>7.2f} | "
            f"{via.rps / direct.rps:>9.2f} {via.p50 / direct.p50:>9.2f} {via.pct(99) / direct.pct(99):>9.2f} "
            f"{added:>8.2f} {direct.errors + via.errors:>6}"
        )
        if direct.concurrency == TARGET_CONCURRENCY:
            ok = added <= TARGET_ADDED_P50_MS
            verdict = (
                f"target: p50 added latency at concurrency {TARGET_CONCURRENCY} "
                f"<= {TARGET_ADDED_P50_MS:g} ms: {added:.2f} ms, {'met' if ok else 'MISSED'}"
            )
    print("ratios are gateway/direct; +p50 is the gateway's added median latency")
    if verdict:
        print(verdict)


if __name__ == "__main__":
    raise SystemExit(main())
