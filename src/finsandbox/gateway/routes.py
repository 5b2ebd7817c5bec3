"""The OpenAI-compatible HTTP edge: /v1/models and /v1/chat/completions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest, PayloadTooLarge
from finsandbox.gateway import service
from finsandbox.gateway.backends import ChatChunk, ChatRequest, Usage
from finsandbox.gateway.schemas import ChatCompletionRequest, completion_id, now, parse_chat_request
from finsandbox.gateway.service import CASE_HEADER, TRIAL_HEADER, Call, StreamState
from finsandbox.guards import GuardBlocked

router = APIRouter(prefix="/v1", tags=["gateway"])


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def read_json(request: Request) -> tuple[Any, FinsandboxError | None]:
    """The decoded body, or the error to report once the caller is authenticated."""
    limit = get_settings().max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
    if not body.strip():
        return None, InvalidRequest("the request body is empty; send a JSON object")
    try:
        return json.loads(body), None
    except UnicodeDecodeError:
        return None, InvalidRequest("the request body is not valid UTF-8")
    except json.JSONDecodeError as exc:
        return None, InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )


@router.get("/models", summary="List the models (endpoints) of the key's workspace")
async def list_models(request: Request) -> dict[str, Any]:
    slug, endpoints = await service.models(bearer(request))
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": int(created), "owned_by": slug, "backend": backend}
            for name, backend, created in endpoints
        ],
    }


@router.post(
    "/chat/completions",
    summary="Create a chat completion (OpenAI-compatible, with SSE streaming)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
        }
    },
)
async def chat_completions(request: Request) -> Any:
    data, parse_error = await read_json(request)
    parsed: ChatCompletionRequest | None = None
    if parse_error is None:
        try:
            parsed = parse_chat_request(data)
            # Before admission, so a request refused for its content spends no quota.
            service.precheck(parsed)
        except FinsandboxError as exc:
            parse_error = exc
    trial = service.check_trial_header(request.headers.get(TRIAL_HEADER))
    case = service.check_case_header(request.headers.get(CASE_HEADER))
    admitted = await service.admit(
        bearer(request), parsed.model if parsed else None, trial, parse_error, case
    )
    assert parsed is not None
    call, backend_request = await service.start_call(admitted, parsed, data["messages"])
    if parsed.stream:
        return await _stream(call, parsed, backend_request)
    result, seq, decisions = await service.complete(call, backend_request)
    return JSONResponse(
        {
            "id": completion_id(),
            "object": "chat.completion",
            "created": now(),
            "model": admitted.endpoint,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(result.usage),
            "finsandbox": {"ledger_seq": seq, "guard_decisions": decisions},
        },
        headers={"X-Finsandbox-Ledger-Seq": str(seq)},
    )


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _stream(call: Call, parsed: ChatCompletionRequest, request: ChatRequest) -> StreamingResponse:
    """SSE in OpenAI's chunk format; only text the output guards have passed is ever sent."""
    first, chunks = await service.open_stream(call, request)
    admitted = call.admitted
    cid, created = completion_id(), now()
    include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    guard = call.guards.stream()

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": admitted.endpoint,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
        )

    async def events() -> AsyncIterator[str]:
        state = StreamState()
        pieces = 0

        async def take(c: ChatChunk) -> str | None:
            """Pass a backend chunk through the stream guard; returns an SSE event for released text."""
            nonlocal pieces
            out = None
            if c.text:
                pieces += 1
                released = await anyio.to_thread.run_sync(guard.feed, c.text)
                if released:
                    out = chunk({"content": released}, None)
            if c.finish_reason:
                state.finish_reason = c.finish_reason
                state.usage = c.usage or Usage(sum(len(m["content"]) for m in request.messages) // 4, pieces)
            return out

        try:
            yield chunk({"role": "assistant", "content": ""}, None)
            event = await take(first)
            if event:
                yield event
            if state.finish_reason is None:
                async for c in chunks:
                    event = await take(c)
                    if event:
                        yield event
                    if state.finish_reason:
                        break
            rest = await anyio.to_thread.run_sync(guard.finish)
            if rest:
                yield chunk({"content": rest}, None)
            yield chunk({}, state.finish_reason or "stop")
            if include_usage:
                usage = state.usage or Usage()
                yield _sse(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": admitted.endpoint,
                        "choices": [],
                        "usage": _usage(usage),
                    }
                )
            state.status = "ok"
        except GuardBlocked as exc:
            state.status = "blocked"
            yield _sse(
                {
                    "error": {
                        "message": exc.message,
                        "type": exc.error_type,
                        "param": "output",
                        "code": exc.code,
                    }
                }
            )
        except FinsandboxError as exc:
            state.status = f"error:{exc.code or exc.error_type}"
            state.error = exc.message
            yield _sse(
                {"error": {"message": exc.message, "type": exc.error_type, "param": None, "code": exc.code}}
            )
        finally:
            call.guards.keep_stream_decisions(guard)
            state.text = guard.released_text
            await chunks.aclose()
            await service.finish_stream(call, state)
        # Only once the call is recorded: a client that has seen [DONE] finds it metered, and its
        # tokens already count against the key's quotas when it sends its next request.
        if state.status == "ok":
            yield "data: [DONE]\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
