"""The embedded model's worker processes: throughput by number of workers, and recovery after a kill.

    .venv/bin/python bench/model_worker.py [--requests 8] [--max-tokens 32] [--workers 1,2]

For each worker count (an endpoint's `contexts`), the backend answers `--requests` concurrent
greedy requests; the script prints requests/s and completion tokens/s, and the ratio against one
worker measured in the same run. Threads per worker follow the default (CPU cores / workers), so
every row uses the same cores. It then SIGKILLs a ready worker and times the next successful call,
which includes the restart and the model load. It uses the backend directly (no gateway, no
database), so the figures are the model path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import time

from finsandbox.errors import UpstreamUnavailable
from finsandbox.gateway.backends import ChatRequest
from finsandbox.gateway.backends.llamacpp import LlamaCppBackend, LlamaCppConfig

PROMPT = "Explain in a few sentences why a bank keeps capital buffers."


def _request(max_tokens: int, n: int) -> ChatRequest:
    # A different question per request: identical prompts would measure nothing different.
    text = f"{PROMPT} (question {n})"
    return ChatRequest(messages=[{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0)


async def _throughput(workers: int, requests: int, max_tokens: int) -> tuple[float, float]:
    backend = LlamaCppBackend(LlamaCppConfig(contexts=workers))
    try:
        # Start every worker before timing: one concurrent warm-up call per worker.
        await asyncio.gather(*(backend.complete(_request(1, -i)) for i in range(workers)))
        started = time.perf_counter()
        results = await asyncio.gather(*(backend.complete(_request(max_tokens, i)) for i in range(requests)))
        elapsed = time.perf_counter() - started
    finally:
        await backend.aclose()
    tokens = sum(r.usage.completion_tokens for r in results)
    return requests / elapsed, tokens / elapsed


async def _recovery(rounds: int) -> list[float]:
    backend = LlamaCppBackend(LlamaCppConfig())
    times = []
    try:
        await backend.complete(_request(1, 0))
        for n in range(rounds):
            [pid] = backend.worker_pids()
            os.kill(pid, signal.SIGKILL)
            started = time.perf_counter()
            while True:
                try:
                    await backend.complete(_request(1, n))
                    break
                except UpstreamUnavailable:  # the call raced the dying worker: it failed, try again
                    await asyncio.sleep(0.01)
            times.append(time.perf_counter() - started)
            await asyncio.sleep(1)
    finally:
        await backend.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]

    print(f"{args.requests} concurrent requests, {args.max_tokens} tokens each, {os.cpu_count()} CPUs")
    print(f"{'workers':>7} {'threads':>7} {'req/s':>7} {'tok/s':>7} {'x 1 worker':>10}")
    base = None
    for workers in counts:
        rps, tps = asyncio.run(_throughput(workers, args.requests, args.max_tokens))
        base = base or tps
        threads = max(1, (os.cpu_count() or 2) // workers)
        print(f"{workers:>7} {threads:>7} {rps:>7.2f} {tps:>7.1f} {tps / base:>10.2f}")

    if args.kills:
        times = asyncio.run(_recovery(args.kills))
        print(
            f"after SIGKILL, the next successful call took {statistics.median(times):.2f} s "
            f"(median of {len(times)}; restart and model load included)"
        )


if __name__ == "__main__":
    main()
