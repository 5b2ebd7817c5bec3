"""Any server that speaks the OpenAI API: vLLM, Ollama, llama-server, a hosted provider.

Retries cover connection failures only (nothing reached the upstream, so nothing can be
done twice); a read timeout or an upstream error is reported, never retried, because the
upstream may already have spent compute on the request.

The HTTP client is aiohttp's. Every gateway call makes one upstream request, and httpx's
AsyncClient cost about 1.4 ms of CPU and 3-4 ms of wall time per request on loopback (its pool
polls every connection on each request, encode/httpx#3215, and each request opens anyio cancel
scopes), against 0.35-0.45 ms and under 1.5 ms for aiohttp (bench/README.md, the profile).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from finsandbox.config import get_settings
from finsandbox.errors import (
    FinsandboxError,
    InvalidRequest,
    QuotaExceeded,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from finsandbox.gateway.backends.base import (
    Backend,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ToolCall,
    Usage,
    backend,
)

MAX_CONNECTIONS = 256
# Idle connections are dropped before the usual server keep-alive (uvicorn: 5 s) ends them, so a
# request is not sent on a connection the server is closing at that moment.
KEEPALIVE_S = 4.0
# Client-side errors of aiohttp: a connection that could not be made (retried) and the rest.
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
_TIMEOUTS = (asyncio.TimeoutError, aiohttp.ServerTimeoutError)


class OpenAIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. http://127.0.0.1:8001/v1")
    model: str = Field(min_length=1, description="the model name the upstream expects")
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the upstream key (never stored)"
    )
    connect_timeout: float | None = Field(default=None, gt=0, le=120)
    read_timeout: float | None = Field(default=None, gt=0, le=3600)
    retries: int | None = Field(default=None, ge=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment sets for the upstream (HTTP_PROXY / HTTPS_PROXY, unless NO_PROXY
    names its host), as curl and httpx read them; None to connect directly."""
    url = urlsplit(base_url)
    if url.hostname is None or urllib.request.proxy_bypass_environment(url.hostname):
        return None
    return urllib.request.getproxies_environment().get(url.scheme)


@backend("openai")
class OpenAIBackend(Backend):
    kind: ClassVar[str] = "openai"
    Config: ClassVar[type[BaseModel]] = OpenAIConfig
    supports_response_format: ClassVar[bool] = True
    supports_tools: ClassVar[bool] = True
    supported_options: ClassVar[frozenset[str]] = frozenset(
        {"presence_penalty", "frequency_penalty", "logit_bias"}
    )

    def __init__(self, config: BaseModel, *, direct: bool = False) -> None:
        """`direct`: never through a proxy (the gateway's own model workers on loopback)."""
        super().__init__(config)
        cfg: OpenAIConfig = config  # type: ignore[assignment]
        settings = get_settings()
        self.cfg = cfg
        self._retries = settings.upstream_retries if cfg.retries is None else cfg.retries
        connect = cfg.connect_timeout or settings.upstream_connect_timeout
        # connect: waiting for a free connection (as httpx's pool timeout, 30 s) plus making one.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=30.0 + connect,
            sock_connect=connect,
            sock_read=cfg.read_timeout or settings.upstream_read_timeout,
        )
        self._headers = {"Content-Type": "application/json"}
        if cfg.api_key_env:
            secret = os.environ.get(cfg.api_key_env)
            if secret:
                self._headers["Authorization"] = f"Bearer {secret}"
        self._url = f"{cfg.base_url}/chat/completions"
        self._proxy = None if direct else env_proxy(cfg.base_url)
        # Connections belong to the event loop that opened them; keep a session per loop.
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    @property
    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[old]
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_S
                ),
                timeout=self._timeout,
                headers=self._headers,
                # The proxy is read from the environment once (`env_proxy`): aiohttp's trust_env
                # read it, and ~/.netrc, on every request in a worker thread (a thread hop per call).
                trust_env=False,
            )
            self._sessions[loop] = session
        return session

    @property
    def model_name(self) -> str:
        return self.cfg.model

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.cfg.model, "messages": request.messages, "stream": stream}
        for name in ("max_tokens", "temperature", "top_p", "seed"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.stop:
            body["stop"] = request.stop
        if request.response_format is not None:
            body["response_format"] = request.response_format
        body.update(request.options)
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _send(self, body: dict[str, Any], *, stream: bool) -> _Response:
        """POST with retries on connection failures only; a non-streamed body is read here."""
        data = json.dumps(body, ensure_ascii=False).encode()
        attempt = 0
        while True:
            try:
                response = await self._session.post(self._url, data=data, proxy=self._proxy)
            except _CONNECT_ERRORS as exc:
                attempt += 1
                if attempt > self._retries:
                    raise UpstreamUnavailable(
                        f"the upstream at {self.cfg.base_url} cannot be reached ({type(exc).__name__})"
                    ) from None
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            except _TIMEOUTS:
                raise UpstreamTimeout(f"the upstream at {self.cfg.base_url} did not answer in time") from None
            except aiohttp.ClientError as exc:
                raise UpstreamError(f"the upstream request failed: {type(exc).__name__}") from None
            wrapped = _Response(response, self.cfg.base_url)
            if not stream:
                await wrapped.aread()
            return wrapped

    def _error_for(self, status: int, body: bytes, retry_after: str | None) -> FinsandboxError:
        """Map an upstream error response to a gateway error that says what happened upstream."""
        detail = ""
        param = None
        try:
            data = json.loads(body)
            err = data.get("error", data)
            detail = err.get("message", "") if isinstance(err, dict) else str(err)
            # The field the upstream names (messages, max_tokens), passed on as OpenAI would.
            param = err.get("param") if isinstance(err, dict) and isinstance(err.get("param"), str) else None
        except (ValueError, AttributeError):
            detail = body[:200].decode("utf-8", errors="replace")
        detail = detail.strip() or f"HTTP {status}"
        if status == 400 or status == 422:
            code = "context_length_exceeded" if "context" in detail.lower() else "upstream_rejected"
            message = f"the upstream model rejected the request: {detail}"
            return InvalidRequest(message, param=param, code=code)
        if status in (401, 403):
            return UpstreamError(
                f"the upstream refused the gateway's credentials: {detail}", code="upstream_auth"
            )
        if status == 404:
            return UpstreamError(
                f"the upstream does not serve model {self.cfg.model!r}: {detail}",
                code="upstream_model_not_found",
            )
        if status == 429:
            seconds = int(retry_after) if retry_after and retry_after.isdigit() else 5
            return QuotaExceeded(
                f"the upstream is rate limiting: {detail}", retry_after=seconds, code="upstream_busy"
            )
        if status in (502, 503, 504):
            return UpstreamUnavailable(f"the upstream is unavailable (HTTP {status}): {detail}")
        return UpstreamError(f"the upstream failed (HTTP {status}): {detail}")

    async def complete(self, request: ChatRequest) -> ChatResult:
        response = await self._send(self._body(request, stream=False), stream=False)
        if response.status_code >= 400:
            raise self._error_for(response.status_code, response.content, response.headers.get("retry-after"))
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            calls = tuple(_tool_call(c, _offered(request)) for c in choice["message"].get("tool_calls") or [])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(
                "the upstream returned a response that is not an OpenAI chat completion"
            ) from None
        usage = data.get("usage") or {}
        return ChatResult(
            text=text,
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            model=data.get("model") or self.cfg.model,
            tool_calls=calls,
        )

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self._send(self._body(request, stream=True), stream=True)
        try:
            if response.status_code >= 400:
                body = await response.aread()
                raise self._error_for(response.status_code, body, response.headers.get("retry-after"))
            finish: str | None = None
            usage: Usage | None = None
            calls = _ToolCallParts(_offered(request))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    raise UpstreamError("the upstream sent a stream event that is not JSON") from None
                if "error" in event:
                    err = event["error"]
                    message = err.get("message") if isinstance(err, dict) else str(err)
                    raise UpstreamError(f"the upstream failed mid-stream: {message}")
                if event.get("usage"):
                    u = event["usage"]
                    usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text:
                        yield ChatChunk(text=text)
                    calls.add(delta.get("tool_calls"))
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            yield ChatChunk(finish_reason=finish or "stop", usage=usage, tool_calls=calls.complete())
        finally:
            await response.aclose()

    async def health(self) -> dict[str, Any]:
        try:
            async with self._session.get(
                f"{self.cfg.base_url}/models", timeout=aiohttp.ClientTimeout(total=3.0)
            ) as response:
                return {"ok": response.status < 500, "status": response.status}
        except (aiohttp.ClientError, *_TIMEOUTS) as exc:
            return {"ok": False, "error": type(exc).__name__}

    async def aclose(self) -> None:
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()


TOOL_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""An upstream's tool call id the gateway passes on (OpenAI's and the usual providers' ids);
another is replaced by one of the gateway's, so an id carries no text from upstream."""


def _offered(request: ChatRequest) -> frozenset[str]:
    """The names of the functions the request offered the model."""
    return frozenset(
        t["function"]["name"] for t in request.tools or [] if isinstance(t.get("function"), dict)
    )


def _tool_call(item: Any, offered: frozenset[str]) -> ToolCall:
    """One item of a reply's `tool_calls`; a malformed one raises (the reply is not OpenAI's). The
    name must be one of the functions offered (the caller's own words, never the model's), and an
    id that is not a plain token is replaced."""
    function = item["function"]
    name, arguments = function["name"], function.get("arguments") or ""
    if not isinstance(name, str) or not name or not isinstance(arguments, str):
        raise TypeError("malformed tool call")
    if name not in offered:  # the name is not repeated: it is model text no guard has read
        raise UpstreamError("the upstream called a function that the request did not offer")
    call_id = item.get("id")
    if not isinstance(call_id, str) or not TOOL_CALL_ID.fullmatch(call_id):
        call_id = f"call_{uuid.uuid4().hex[:24]}"
    return ToolCall(id=call_id, name=name, arguments=arguments)


class _ToolCallParts:
    """Streamed tool calls, assembled by index from `delta.tool_calls` fragments: the id and name
    come once, the arguments in pieces."""

    def __init__(self, offered: frozenset[str]) -> None:
        self._calls: dict[int, dict[str, Any]] = {}
        self._offered = offered

    def add(self, fragments: Any) -> None:
        if not fragments:
            return
        if not isinstance(fragments, list):
            raise UpstreamError("the upstream sent tool calls that are not a list")
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise UpstreamError("the upstream sent a tool call fragment that is not an object")
            index = fragment.get("index", len(self._calls))
            if not isinstance(index, int):
                raise UpstreamError("the upstream sent a tool call fragment without an index")
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": []})
            function = fragment.get("function") or {}
            if not isinstance(function, dict):
                raise UpstreamError("the upstream sent a tool call fragment whose function is not an object")
            if fragment.get("id") and not call["id"]:
                call["id"] = str(fragment["id"])
            if isinstance(function.get("name"), str) and not call["name"]:
                call["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                call["arguments"].append(function["arguments"])

    def complete(self) -> tuple[ToolCall, ...]:
        calls = []
        for _, call in sorted(self._calls.items()):
            if not call["name"]:
                raise UpstreamError("the upstream streamed a tool call without a function name")
            item = {
                "id": call["id"],
                "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
            }
            calls.append(_tool_call(item, self._offered))
        return tuple(calls)


class _Response:
    """What the backend reads of an upstream response; the body read errors become gateway errors."""

    def __init__(self, response: aiohttp.ClientResponse, base_url: str) -> None:
        self._response = response
        self._base_url = base_url
        self.status_code = response.status
        self.headers = response.headers
        self.content = b""

    async def aread(self) -> bytes:
        try:
            self.content = await self._response.read()
        except _TIMEOUTS:
            raise UpstreamTimeout(f"the upstream at {self._base_url} did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"the upstream request failed: {type(exc).__name__}") from None
        finally:
            self._response.release()
        return self.content

    def json(self) -> Any:
        return json.loads(self.content)

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body line by line as it arrives (server-sent events), however long a line is."""
        pending = b""
        try:
            async for piece in self._response.content.iter_any():
                pending += piece
                if b"\n" not in piece:
                    continue
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.rstrip(b"\r").decode("utf-8", errors="replace")
        except _TIMEOUTS:
            raise UpstreamTimeout(f"the upstream at {self._base_url} stopped sending in time") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"the upstream stream broke: {type(exc).__name__}") from None
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        self._response.release()
