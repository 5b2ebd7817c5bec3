"""OpenAI request and response shapes, validated with messages that name the offending field."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finsandbox.errors import InvalidRequest

MAX_OUTPUT_TOKENS = 1_048_576
"""More output tokens than any model's context: a larger request is a 400, never passed upstream."""

Role = Literal["system", "developer", "user", "assistant", "tool"]
MAX_TOOLS = 128
"""As OpenAI: at most this many tools a request, and tool calls a message."""
TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
"""A function's name, as OpenAI allows it."""


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME)
    description: str | None = Field(default=None, max_length=100_000)
    parameters: dict[str, Any] | None = None  # a JSON Schema object
    strict: bool | None = None


class Tool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionName


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME)
    arguments: str  # JSON text, as the model wrote it


class ToolCallItem(BaseModel):
    """A tool call of an earlier assistant message, as the caller sends it back."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"]
    function: FunctionCall


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallItem] | None = Field(default=None, min_length=1, max_length=MAX_TOOLS)
    tool_call_id: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _tool_fields(self) -> Message:
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a message with role 'tool' needs the 'tool_call_id' of the call it answers")
        if self.tool_call_id is not None and self.role != "tool":
            raise ValueError("only a message with role 'tool' has a 'tool_call_id'")
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError("only a message with role 'assistant' has 'tool_calls'")
        if (self.model_extra or {}).get("function_call") is not None:
            raise ValueError(
                "'function_call' in a message is deprecated and not supported; send 'tool_calls'"
            )
        return self

    def text(self) -> str:
        """The message as plain text; only text parts are supported by the sandbox's backends."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for i, part in enumerate(self.content):
            if part.type != "text" or part.text is None:
                raise InvalidRequest(
                    f"content part {i} has type {part.type!r}; only 'text' parts are supported",
                    param="messages.content",
                )
            pieces.append(part.text)
        return "\n".join(pieces)


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @field_validator("json_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("schema", {}), dict):
            raise ValueError("json_schema.schema must be a JSON object")
        return value


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI chat-completions parameters the gateway recognises; any other is a 400
    (`unrecognized request argument supplied: NAME`, as OpenAI answers), so nothing a caller asks
    for is silently dropped. Each recognised one is honoured, passed to a backend that declares it
    (`Backend.supported_options`), or refused by name (see `service.with_features`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_OUTPUT_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_OUTPUT_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    user: str | None = Field(default=None, max_length=256)
    response_format: ResponseFormat | None = None
    # Sampling options passed to backends that declare them, refused by name by the others.
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = Field(default=None, max_length=300)
    # Log probabilities are not carried back through the guards: only "off" is accepted.
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    # Provider-side bookkeeping: the gateway never asks an upstream to keep a conversation.
    store: bool | None = None
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    service_tier: Literal["auto", "default"] | None = None
    # Tool calling: passed to a backend that declares it, refused by name by the others.
    tools: list[Tool] | None = Field(default=None, min_length=1, max_length=MAX_TOOLS)
    tool_choice: Any = Field(  # checked by `_tool_choice`
        default=None,
        description='"none", "auto", "required" or {"type": "function", "function": {"name": NAME}}',
    )
    parallel_tool_calls: bool | None = None
    # The deprecated predecessors of tools: recognised only to be refused with the way to say it now.
    functions: Any = None
    function_call: Any = None

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, value: Any) -> str | NamedToolChoice | None:
        """Checked here rather than as a union, so an error names `tool_choice` itself."""
        if value is None or value in ("none", "auto", "required"):
            return value  # type: ignore[no-any-return]
        if isinstance(value, dict):
            try:
                return NamedToolChoice.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"{where}: {first['msg']}") from None
        raise ValueError(
            """must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}"""
        )

    @field_validator("logit_bias")
    @classmethod
    def _bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for token, bias in (value or {}).items():
            if not token.isdigit() or len(token) > 10:
                raise ValueError(f"logit_bias keys are token ids; {token[:20]!r} is not one")
            if not -100 <= bias <= 100:
                raise ValueError("logit_bias values must be between -100 and 100")
        return value

    @property
    def sampling_options(self) -> dict[str, Any]:
        """The sampling parameters set in this request that only some backends honour."""
        names = ("presence_penalty", "frequency_penalty", "logit_bias")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @property
    def wants_tools(self) -> bool:
        """Tools are offered, or the conversation holds tool calls the backend must read."""
        return bool(self.tools) or any(m.tool_calls for m in self.messages)

    def check_tools(self) -> None:
        """Refuse, naming the parameter, what OpenAI refuses about tools (and the legacy functions)."""
        for legacy in ("functions", "function_call"):
            if getattr(self, legacy) is not None:
                raise InvalidRequest(
                    f"'{legacy}' is deprecated and not supported by the gateway; send 'tools' "
                    """([{"type": "function", "function": {...}}]) and 'tool_choice' instead""",
                    param=legacy,
                    code="unsupported_parameter",
                )
        names = [t.function.name for t in self.tools or []]
        duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if duplicate is not None:
            raise InvalidRequest(f"tools name the function {duplicate!r} twice", param="tools")
        for name in ("tool_choice", "parallel_tool_calls"):
            if getattr(self, name) is not None and not names:
                raise InvalidRequest(f"'{name}' is only allowed when 'tools' are given", param=name)
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            raise InvalidRequest(
                f"tool_choice names the function {choice.function.name!r}, which is not in 'tools'",
                param="tool_choice",
            )
        called: set[str] = set()
        for i, m in enumerate(self.messages):
            called.update(c.id for c in m.tool_calls or [])
            if m.tool_call_id is not None and m.tool_call_id not in called:
                raise InvalidRequest(
                    f"messages[{i}] answers tool call {m.tool_call_id[:64]!r}, which no earlier assistant "
                    "message made",
                    param=f"messages.{i}.tool_call_id",
                )

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def prompt_estimate(self) -> int:
        """An upper estimate of the prompt's tokens, for reserving quota before the backend counts them:
        a token is rarely shorter than three characters (a CJK character is about one token)."""
        total = 0
        for m in self.messages:
            text = (
                m.content if isinstance(m.content, str) else " ".join(p.text or "" for p in m.content or [])
            )
            text += "".join(c.function.name + c.function.arguments for c in m.tool_calls or [])
            wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
            total += (len(text) - wide) // 3 + wide + 4
        if self.tools:  # the function definitions reach the model as part of the prompt
            total += len(json.dumps([t.model_dump(exclude_none=True) for t in self.tools])) // 3
        return total + 3

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


MAX_JSON_DEPTH = 64
"""Deeper JSON than any OpenAI request needs is refused before anything recurses over it."""

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_json(body: bytes) -> Any:
    """A request body as JSON, refusing with a 400 what would otherwise fail deep inside the server:
    text that is not UTF-8, nesting deeper than MAX_JSON_DEPTH, and unpaired UTF-16 surrogates
    (a lone "\\ud800" decodes to a Python string that cannot be encoded, hashed or stored)."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidRequest(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    check_json(data, surrogates=_SURROGATE_ESCAPE.search(body) is not None)
    return data


def check_json(data: Any, *, surrogates: bool = True) -> None:
    """Raise InvalidRequest for nesting deeper than MAX_JSON_DEPTH or (when `surrogates`) a string
    holding an unpaired surrogate; iterative, so the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidRequest(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if surrogates and isinstance(k, str):
                    _check_text(k, where or "body")
                stack.append((v, depth + 1, f"{where}.{k}" if where else str(k)))
        elif surrogates and isinstance(value, str):
            _check_text(value, where or "body")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"'{where}' holds an unpaired UTF-16 surrogate (such as \\ud800), which is not text", param=where
        ) from None


def request_schema() -> dict[str, Any]:
    """The chat request's JSON schema with its definitions inlined, for the OpenAPI document (whose
    `#/$defs/...` references would otherwise point at nothing)."""
    schema = ChatCompletionRequest.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


def parse_chat_request(data: Any) -> ChatCompletionRequest:
    """Validate a decoded JSON body, turning the first pydantic error into a named 400."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc) from None


def invalid_from(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-after"))
    msg = first["msg"]
    if first["type"] == "missing":
        return InvalidRequest(f"missing required field '{loc}'", param=loc)
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        return InvalidRequest(f"unrecognized request argument supplied: {loc}", param=loc)
    if loc == "messages" and first["type"] == "too_short":
        return InvalidRequest("'messages' must contain at least one message", param=loc)
    return InvalidRequest(f"invalid value for '{loc}': {msg}", param=loc)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())
