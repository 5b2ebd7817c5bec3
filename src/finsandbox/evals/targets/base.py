"""The target contract: run one case, return the answer and the evidence of how it was made."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from finsandbox.evals.client import GatewayClient
from finsandbox.evals.model import Case, Recipe
from finsandbox.evals.scorers.base import Evidence


@dataclass
class RunSettings:
    """Generation settings a trial applies to every call it makes."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0


@dataclass
class TargetOutput:
    text: str
    evidence: Evidence = field(default_factory=Evidence)
    extra: dict[str, Any] = field(default_factory=dict)


class Target(ABC):
    kind: ClassVar[str]

    @abstractmethod
    async def run(
        self, case: Case, recipe: Recipe, client: GatewayClient, settings: RunSettings, case_key: str
    ) -> TargetOutput: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
