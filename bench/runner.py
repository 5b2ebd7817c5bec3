"""Trial runner throughput: ours (through the gateway) against the upstream-only ceiling and Inspect AI.

In one run, for each upstream latency (instant, then 100 ms by default):

  ceiling  the stub upstream's own throughput at the same concurrency: measured straight at the
           stub with a minimal keep-alive client when it answers instantly, concurrency / latency
           when it waits (the measured direct figure is printed beside it)
  ours     a trial of N cases with the cheap `contains` scorer, made with `create_trial` and
           `run_trial` in this process through the default in-process gateway, so every call
           still passes the key check, guards, quotas, metering and the ledger; timed from the
           start of `create_trial` until every result is stored and the trial is summarised
  inspect  the equivalent Inspect AI task (N samples, `generate()`, `includes()`), its
           OpenAI-compatible provider pointed at the same stub, max_connections = max_samples =
           the same concurrency, display off, logs in a temporary folder with realtime and per-sample
           logging off (its fastest settings); run in a child process and timed around `eval()`

and prints cases/s, the ratio of each to the ceiling and ours over Inspect's.

    python bench/runner.py [--cases 5000] [--concurrency 32] [--latency-ms 0,100] [--db sqlite|postgresql]
                           [--quick] [--no-inspect] [--profile FILE]

Both runners get a small warm-up run first (imports, the gateway app, connection pools). The stub,
the gateway, the database and the load generator share this machine's cores, so compare the
ratios between runs, not the absolute numbers, and note the load average printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from _common import database, set_up_workspace

TARGET_VS_INSPECT = 1.0
TARGET_VS_CEILING = 0.9  # at the slow upstream: within 10% of concurrency / latency
WARM_UP_CASES = 64


@dataclass
class Row:
    latency_ms: float
    ceiling: float
    direct: float
    ours: float
    ours_seconds: float
    ours_cpu_ms: float
    inspect: float | None
    inspect_seconds: float | None
    inspect_cpu_ms: float | None

    def ratio(self, value: float | None, base: float | None) -> str:
        return f"{value / base:.2f}" if value and base else "-"


def set_up_programme(upstream_url: str) -> None:
    """A bank and a workspace with an `openai` endpoint at the stub (the trial makes its own key)."""
    set_up_workspace(upstream_url)


def case_input(i: int) -> str:
    return f"question {i}"


def write_suite(folder: Path, name: str, n: int) -> Path:
    """A suite of one recipe over a JSONL dataset of n cases; the stub's echo passes every one."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            case = {"id": f"c{i}", "input": case_input(i), "expected": {"contains": case_input(i)}}
            f.write(json.dumps(case) + "\n")
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "theme: customer_service\n"
        "recipes:\n"
        "  - name: echo\n"
        "    principles: [reliability_accuracy]\n"
        f"    dataset: {name}.jsonl\n"
        "    scorers:\n"
        "      - name: contains\n",
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------------------ the ceiling


async def direct_throughput(url: str, concurrency: int, total: int) -> float:
    """Requests/s straight at the stub over `concurrency` keep-alive connections (a minimal client)."""
    body = json.dumps(
        {"model": "stub-model", "messages": [{"role": "user", "content": case_input(0)}], "max_tokens": 256}
    ).encode()
    parsed = httpx.URL(url)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {parsed.host}:{parsed.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body

    async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(request)
        got = await reader.readuntil(b"\r\n\r\n")
        if not got.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the stub answered {got[:40]!r}")
        for line in got.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                await reader.readexactly(int(value))

    conns = [await asyncio.open_connection(parsed.host, parsed.port) for _ in range(concurrency)]
    remaining = total
    try:
        await asyncio.gather(*(post(r, w) for r, w in conns))  # warm up

        async def lane(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await post(reader, writer)

        started = time.perf_counter()
        await asyncio.gather(*(lane(r, w) for r, w in conns))
        return total / (time.perf_counter() - started)
    finally:
        for _, w in conns:
            w.close()


def set_delay(upstream_url: str, delay_ms: float) -> None:
    httpx.post(f"{upstream_url}/_control", json={"delay_ms": delay_ms, "clear": True}).raise_for_status()


# ------------------------------------------------------------------------------ ours


def run_ours(suite: Path, concurrency: int, expected: int) -> tuple[float, float]:
    """Seconds from create_trial to a completed, summarised trial with every result stored, and
    this process's CPU seconds meanwhile (the gateway runs in it too; the stub does not)."""
    from finsandbox.evals.trials import TrialConfig, create_trial, run_trial
    from finsandbox.store import session_scope

    cpu = time.process_time()
    started = time.perf_counter()
    with session_scope(write=True) as s:
        trial_id = create_trial(
            s,
            TrialConfig(workspace="bench", endpoint="stub", suites=[str(suite)], concurrency=concurrency),
            actor="bench",
        ).id
    trial = asyncio.run(run_trial(trial_id, actor="bench"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if trial.status != "completed" or trial.done_cases != expected:
        raise RuntimeError(f"trial {trial.id} {trial.status} ({trial.error}); {trial.done_cases}/{expected}")
    passed = trial.summary["recipes"][f"{suite.stem}/echo"]["passed"]
    if passed != expected:
        raise RuntimeError(f"trial {trial.id}: only {passed}/{expected} cases passed")
    return seconds, cpu


def stored_counts(expected_calls: int) -> str:
    from sqlalchemy import func, select

    from finsandbox import ledger
    from finsandbox.store import session_scope
    from finsandbox.store.models import CaseResult, LedgerEntry, UsageRecord

    with session_scope() as s:
        report = ledger.verify(s)
        calls = s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "gateway.chat")
        )
        usage = s.scalar(select(func.count()).select_from(UsageRecord))
        results = s.scalar(select(func.count()).select_from(CaseResult))
    state = "verified" if report.ok else f"BROKEN ({report.first})"
    match = "as expected" if calls == usage == results == expected_calls else f"EXPECTED {expected_calls}"
    return (
        f"ledger {state}: {report.entries} entries, {calls} gateway.chat, {usage} usage rows, "
        f"{results} case results ({match})"
    )


# ------------------------------------------------------------------------------ Inspect AI


def inspect_worker(args: argparse.Namespace) -> int:
    """Child process: run the equivalent Inspect task; print {"seconds", "cpu", "samples", "accuracy"}."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    def run(n: int) -> tuple[float, float, float]:
        dataset = MemoryDataset(
            [Sample(id=f"c{i}", input=case_input(i), target=case_input(i)) for i in range(n)]
        )
        task = Task(dataset=dataset, solver=generate(), scorer=includes())
        cpu = time.process_time()
        started = time.perf_counter()
        (log,) = inspect_eval(
            task,
            model="openai-api/stub/stub-model",
            display="none",
            log_dir=args.inspect_log_dir,
            log_realtime=False,
            log_samples=False,
            max_connections=args.concurrency,
            max_samples=args.concurrency,
            max_tokens=256,
            temperature=0.0,
            seed=0,
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if log.status != "success" or log.results is None:
            raise RuntimeError(f"inspect eval {log.status}: {log.error}")
        accuracy = log.results.scores[0].metrics["accuracy"].value
        return seconds, cpu, float(accuracy)

    run(min(WARM_UP_CASES, args.cases))
    seconds, cpu, accuracy = run(args.cases)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "samples": args.cases, "accuracy": accuracy}))
    return 0


def run_inspect(upstream_url: str, cases: int, concurrency: int, home: Path) -> tuple[float, float]:
    logs = home / "inspect-logs"
    env = {
        **os.environ,
        "STUB_BASE_URL": f"{upstream_url}/v1",
        "STUB_API_KEY": "bench",
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "INSPECT_LOG_DIR": str(logs),
    }
    out = subprocess.run(
        [
            sys.executable, __file__, "--inspect-worker", "--cases", str(cases),
            "--concurrency", str(concurrency), "--inspect-log-dir", str(logs),
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"the Inspect run failed:\n{out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if data["accuracy"] != 1.0:
        raise RuntimeError(f"Inspect's accuracy was {data['accuracy']}, expected 1.0")
    return float(data["seconds"]), float(data["cpu"])


def inspect_available() -> bool:
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------ the run


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", default="0,100", help="comma-separated upstream latencies")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 300 cases")
    parser.add_argument("--no-inspect", action="store_true", help="skip the Inspect AI comparison")
    parser.add_argument("--profile", metavar="FILE", help="cProfile our timed trials into FILE")
    parser.add_argument("--inspect-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inspect-log-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inspect_worker:
        return inspect_worker(args)
    if args.quick:
        args.cases = min(args.cases, 300)
    latencies = [float(x) for x in args.latency_ms.split(",") if x.strip()]
    with_inspect = not args.no_inspect and inspect_available()
    if not args.no_inspect and not with_inspect:
        print("inspect-ai is not installed (pip install -e '.[bench]'); skipping the comparison")

    with tempfile.TemporaryDirectory(prefix="finsandbox-bench-") as tmp:
        home = Path(tmp)
        os.environ["FINSANDBOX_HOME"] = str(home)
        os.environ.pop("FINSANDBOX_REDIS_URL", None)
        with database(args.db, home) as url:
            os.environ["FINSANDBOX_DATABASE_URL"] = url
            from finsandbox.testing import processes

            with processes.upstream() as upstream:
                set_up_programme(upstream.url)
                print(
                    f"finsandbox trial runner benchmark: {args.cases} cases, concurrency {args.concurrency}, "
                    f"database {args.db}, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
                    f"load average {load()}"
                )
                profiler = None
                if args.profile:
                    import cProfile

                    profiler = cProfile.Profile()
                rows: list[Row] = []
                calls = 0
                for n, latency in enumerate(latencies):
                    set_delay(upstream.url, latency)
                    direct = asyncio.run(
                        direct_throughput(upstream.url, args.concurrency, max(args.cases // 5, 200))
                    )
                    ceiling = args.concurrency / (latency / 1000) if latency else direct
                    warm = write_suite(home / "suites", f"warm{n}", WARM_UP_CASES)
                    run_ours(warm, args.concurrency, WARM_UP_CASES)
                    suite = write_suite(home / "suites", f"bench{n}", args.cases)
                    if profiler:
                        profiler.enable()
                    ours, ours_cpu = run_ours(suite, args.concurrency, args.cases)
                    if profiler:
                        profiler.disable()
                    calls += WARM_UP_CASES + args.cases
                    inspect_s = inspect_cpu = None
                    if with_inspect:
                        inspect_s, inspect_cpu = run_inspect(upstream.url, args.cases, args.concurrency, home)
                    rows.append(
                        Row(
                            latency_ms=latency,
                            ceiling=ceiling,
                            direct=direct,
                            ours=args.cases / ours,
                            ours_seconds=ours,
                            ours_cpu_ms=ours_cpu * 1000 / args.cases,
                            inspect=args.cases / inspect_s if inspect_s else None,
                            inspect_seconds=inspect_s,
                            inspect_cpu_ms=inspect_cpu * 1000 / args.cases if inspect_cpu else None,
                        )
                    )
                print_table(rows)
                print(stored_counts(calls))
                print(f"load average at the end: {load()}")
                if profiler:
                    profiler.dump_stats(args.profile)
                    print(f"profile of our timed trials written to {args.profile}")
    return 0


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'latency':>8} | {'ceiling/s':>9} {'direct/s':>9} | {'ours/s':>7} {'s':>6} {'cpu ms':>6} "
        f"{'/ceiling':>8} | {'inspect/s':>9} {'s':>6} {'cpu ms':>6} {'/ceiling':>8} | {'ours/inspect':>12}"
    )
    print(header)
    print("-" * len(header))
    verdicts: list[str] = []
    for r in rows:
        inspect_s = (
            f"{r.inspect:>9.0f} {r.inspect_seconds:>6.1f} {r.inspect_cpu_ms:>6.2f}"
            if r.inspect and r.inspect_seconds and r.inspect_cpu_ms
            else f"{'-':>9} {'-':>6} {'-':>6}"
        )
        print(
            f"{r.latency_ms:>6.0f}ms | {r.ceiling:>9.0f} {r.direct:>9.0f} | "
            f"{r.ours:>7.0f} {r.ours_seconds:>6.1f} {r.ours_cpu_ms:>6.2f} {r.ratio(r.ours, r.ceiling):>8} | "
            f"{inspect_s} {r.ratio(r.inspect, r.ceiling):>8} | {r.ratio(r.ours, r.inspect):>12}"
        )
        if r.inspect:
            ok = r.ours / r.inspect >= TARGET_VS_INSPECT
            verdicts.append(
                f"at {r.latency_ms:g} ms, ours >= Inspect's throughput: "
                f"{r.ours / r.inspect:.2f}x, {'met' if ok else 'MISSED'}"
            )
        if r.latency_ms >= 50:
            ok = r.ours / r.ceiling >= TARGET_VS_CEILING
            verdicts.append(
                f"at {r.latency_ms:g} ms, ours within 10% of concurrency/latency: "
                f"{r.ours / r.ceiling:.2f}, {'met' if ok else 'MISSED'}"
            )
    print(
        "cases/s; ceiling = the stub's direct throughput (instant) or concurrency / latency; "
        "cpu ms = the runner process's CPU time per case (ours includes the in-process gateway)"
    )
    for v in verdicts:
        print("target: " + v)


if __name__ == "__main__":
    raise SystemExit(main())
