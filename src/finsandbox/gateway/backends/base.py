"""The backend contract: something that produces chat completions, OpenAI-shaped.

Backends see messages that the input guards have already passed, and report token usage
so the gateway can meter and enforce quotas whatever the backend is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from finsandbox import registry


@dataclass(frozen=True)
class ChatRequest:
    """A completion request after validation; `messages` have plain-text content.

    For a backend that declares `supports_tools`, an assistant message may also carry `tool_calls`
    (OpenAI's shape, content then possibly None) and a `tool` message its `tool_call_id`; other
    backends never see either (the gateway refuses such requests for them).
    """

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    # OpenAI's response_format (json_object / json_schema), only for backends that declare support.
    response_format: dict[str, Any] | None = None
    # Sampling options (presence_penalty, frequency_penalty, logit_bias), only for backends that
    # declare them in `supported_options`.
    options: dict[str, Any] = field(default_factory=dict)
    # OpenAI's tools (function definitions), tool_choice and parallel_tool_calls, only for backends
    # that declare `supports_tools`.
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asks for; `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    def openai(self) -> dict[str, Any]:
        """OpenAI's shape of the call (a message's `tool_calls` item)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    usage: Usage
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer; the last one has a finish_reason and, where known, usage.

    A tool call is handed over whole, once its last fragment has arrived: the backend assembles
    what its upstream streams in pieces, and the gateway guards the complete arguments before any
    of them leaves.
    """

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()


class Backend(ABC):
    """One instance per endpoint configuration per process; see backends/__init__.py."""

    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    # Declared capabilities: a request needing one its backend lacks is refused with a 400 naming it,
    # never silently dropped.
    supports_tools: ClassVar[bool] = False
    supports_response_format: ClassVar[bool] = False
    supported_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: BaseModel) -> None:
        self.config = config

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model's own name, reported in responses."""

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResult: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    async def health(self) -> dict[str, Any]:
        """A cheap liveness check for the operator's view; backends override where they can."""
        return {"ok": True}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""


backend = registry.backends.register
"""Class decorator: register a backend under the name an endpoint's `backend` uses."""
