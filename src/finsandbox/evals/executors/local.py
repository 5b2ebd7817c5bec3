"""The default executor: asyncio tasks in this process, at most `concurrency` cases in flight."""

from __future__ import annotations

import asyncio

from finsandbox.evals.executors.base import Executor, OnResult, ShouldStop, executor
from finsandbox.evals.plan import LoadedSuite, WorkItem
from finsandbox.evals.worker import RunSpec, Worker


@executor("local")
class LocalExecutor(Executor):
    name = "local"

    async def run(
        self,
        spec: RunSpec,
        suites: list[LoadedSuite],
        items: list[WorkItem],
        on_result: OnResult,
        should_stop: ShouldStop,
    ) -> None:
        worker = Worker(spec, suites)
        queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)

        async def lane() -> None:
            while not should_stop():
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await worker.run(item)
                await on_result(result)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(items)) or 1):
                    group.create_task(lane())
        finally:
            await worker.aclose()
