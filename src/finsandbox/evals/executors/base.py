"""The executor contract: run work items with bounded concurrency, hand each result back as it finishes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from finsandbox import registry
from finsandbox.evals.plan import LoadedSuite, WorkItem
from finsandbox.evals.worker import ItemResult, RunSpec

OnResult = Callable[[ItemResult], Awaitable[None]]
ShouldStop = Callable[[], bool]


class Executor(ABC):
    name: str

    def __init__(self, concurrency: int = 4, address: str | None = None) -> None:
        self.concurrency = max(1, concurrency)
        self.address = address  # where a distributed executor's cluster is; local ones ignore it

    @abstractmethod
    async def run(
        self,
        spec: RunSpec,
        suites: list[LoadedSuite],
        items: list[WorkItem],
        on_result: OnResult,
        should_stop: ShouldStop,
    ) -> None:
        """Run `items`; call `on_result` once per finished item; stop starting new ones when asked."""


executor = registry.executors.register
"""Class decorator: register an executor under the name a trial's `executor` uses."""
