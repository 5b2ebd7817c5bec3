"""Fan a trial out over a Ray cluster when one machine is not enough.

Cases travel in small batches to Ray tasks; each task builds its own Worker (its own gateway
client, against the same database) and returns the batch's results, which the trial stores
as each batch finishes. `address=None` starts a local Ray instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from finsandbox.errors import ConfigError
from finsandbox.evals.executors.base import Executor, OnResult, ShouldStop, executor
from finsandbox.evals.model import Case
from finsandbox.evals.plan import LoadedSuite, WorkItem
from finsandbox.evals.worker import ItemResult, RunSpec, Worker


def _run_batch(spec_data: dict[str, Any], batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Executed inside a Ray worker process."""
    import os

    spec = RunSpec(**spec_data)
    if spec.database_url:
        os.environ["FINSANDBOX_DATABASE_URL"] = spec.database_url
        from finsandbox.config import get_settings

        get_settings.cache_clear()

    async def go() -> list[dict[str, Any]]:
        worker = Worker(spec)
        try:
            out = []
            for raw in batch:
                item = WorkItem(
                    key=raw["key"],
                    suite=raw["suite"],
                    recipe=raw["recipe"],
                    case=Case.model_validate(raw["case"]),
                )
                out.append(dataclasses.asdict(await worker.run(item)))
            return out
        finally:
            await worker.aclose()

    return asyncio.run(go())


@executor("ray")
class RayExecutor(Executor):
    name = "ray"

    def __init__(self, concurrency: int = 4, address: str | None = None, batch_size: int = 4) -> None:
        super().__init__(concurrency, address)
        self.batch_size = max(1, batch_size)

    async def run(
        self,
        spec: RunSpec,
        suites: list[LoadedSuite],
        items: list[WorkItem],
        on_result: OnResult,
        should_stop: ShouldStop,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'finsandbox[ray]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address, include_dashboard=False, log_to_driver=False, configure_logging=False
            )
        remote = ray.remote(_run_batch)
        spec_data = dataclasses.asdict(spec)
        batches = [
            [
                {"key": i.key, "suite": i.suite, "recipe": i.recipe, "case": i.case.model_dump(mode="json")}
                for i in items[n : n + self.batch_size]
            ]
            for n in range(0, len(items), self.batch_size)
        ]
        pending: list[Any] = []
        try:
            while (batches or pending) and not (should_stop() and not pending):
                while batches and len(pending) < self.concurrency and not should_stop():
                    pending.append(remote.remote(spec_data, batches.pop(0)))
                if not pending:
                    break
                done, pending = await asyncio.to_thread(ray.wait, pending, num_returns=1)
                for ref in done:
                    for raw in await asyncio.to_thread(ray.get, ref):
                        await on_result(ItemResult(**raw))
        finally:
            for ref in pending:
                ray.cancel(ref)
            if started_here:
                ray.shutdown()
