"""The OpenAI-compatible HTTP edge: /v1/models and /v1/chat/completions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from finsandbox.gateway import service
from finsandbox.gateway.backends import Usage
from finsandbox.gateway.schemas import completion_id, decode_json, now, request_schema
from finsandbox.gateway.service import (
    CASE_HEADER,
    TRIAL_HEADER,
    ChatStream,
    StreamEnd,
    StreamFailed,
    StreamRecorded,
    StreamText,
    StreamToolCalls,
)

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
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return None, UnsupportedMediaType(
            f"the request body must be sent as 'Content-Type: application/json', not {media!r}"
        )
    try:
        return decode_json(body), None
    except InvalidRequest as exc:
        return None, exc


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
            "content": {"application/json": {"schema": request_schema()}},
        }
    },
)
async def chat_completions(request: Request) -> Any:
    data, parse_error = await read_json(request)
    result = await service.chat(
        bearer(request),
        data,
        parse_error,
        trial_header=request.headers.get(TRIAL_HEADER),
        case_header=request.headers.get(CASE_HEADER),
    )
    if isinstance(result, ChatStream):
        return StreamingResponse(
            _sse_events(result),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return JSONResponse(
        {
            "id": completion_id(),
            "object": "chat.completion",
            "created": now(),
            "model": result.endpoint,
            "choices": [
                {
                    "index": 0,
                    "message": _message(result),
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(result.usage),
            "finsandbox": {
                "ledger_seq": result.ledger_seq,
                "guard_decisions": result.guard_decisions,
                **({"model_view": result.model_view} if result.model_view is not None else {}),
            },
        },
        headers={"X-Finsandbox-Ledger-Seq": str(result.ledger_seq)},
    )


def _message(result: service.Completion) -> dict[str, Any]:
    """The reply's message: its text, and its tool calls if the model made any (content is then
    null when there is no text, as OpenAI answers)."""
    if not result.tool_calls:
        return {"role": "assistant", "content": result.text}
    return {
        "role": "assistant",
        "content": result.text or None,
        "tool_calls": [c.openai() for c in result.tool_calls],
    }


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def _sse_events(stream: ChatStream) -> AsyncIterator[str]:
    """The service's stream events as OpenAI chunks; `[DONE]` only once the call is recorded."""
    cid, created = completion_id(), now()
    head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": stream.endpoint}

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return _sse(
            {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        )

    yield chunk({"role": "assistant", "content": ""}, None)
    async for event in stream.events():
        if isinstance(event, StreamText):
            yield chunk({"content": event.text}, None)
        elif isinstance(event, StreamToolCalls):
            # One delta per call, whole: its arguments were guarded complete (OpenAI streams the
            # same fields in pieces; a client assembling by index reads either the same).
            for index, call in enumerate(event.calls):
                yield chunk({"tool_calls": [{"index": index, **call.openai()}]}, None)
        elif isinstance(event, StreamEnd):
            yield chunk({}, event.finish_reason)
            if stream.include_usage:
                yield _sse({**head, "choices": [], "usage": _usage(event.usage)})
        elif isinstance(event, StreamFailed):
            exc = event.error
            yield _sse(
                {
                    "error": {
                        "message": exc.message,
                        "type": exc.error_type,
                        "param": exc.param,
                        "code": exc.code,
                    }
                }
            )
        elif isinstance(event, StreamRecorded):
            # A client that has seen [DONE] finds the call metered, and its tokens already count
            # against the key's quotas when it sends its next request.
            yield "data: [DONE]\n\n"
