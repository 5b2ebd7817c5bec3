"""A minimal OpenAI-compatible upstream: echoes the last user message, optionally after a delay.

It records every request body it receives (GET /_requests), so tests can assert on exactly
what reached the backend, and can be told (POST /_control) to fail with a status code, to
answer slowly, to answer with a fixed reply instead of the echo, to answer by scripted `rules`
(`[{"contains": "...", "reply": "..."}]`: the first rule whose text is in the last user message
answers; a deterministic double for a checker or judge endpoint), or to stream at a model's
pace (`tokens_per_s`: one word per token, the first after one token's time).
Given `tools` (and a `tool_choice` other than "none") it calls them: the named one, or each tool
offered (the first only with `parallel_tool_calls: false`), with arguments that fill each string
parameter with the last user message (or the fixed `tool_arguments` it was told), streamed as
OpenAI streams them (name first, then the arguments in fragments); a conversation that ends with
tool results is answered with text that uses them. Told `tool_calls` (a reply's list, verbatim)
or `tool_deltas` (streamed deltas, verbatim, never finished) it answers with exactly those, as a
hostile upstream or a careless model might.
Run it with `python -m finsandbox.testing.upstream --port 8001 [--delay-ms 100] [--tokens-per-s 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def create_upstream(delay_ms: float = 0.0, model: str = "stub-model", tokens_per_s: float = 0.0) -> Starlette:
    received: list[dict[str, Any]] = []
    state: dict[str, Any] = {"fail_status": None, "delay_ms": delay_ms, "tokens_per_s": tokens_per_s}

    def answer_for(body: dict[str, Any]) -> str:
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1]["content"] if users else ""
        if isinstance(last, list):
            last = " ".join(p.get("text", "") for p in last)
        for rule in state.get("rules") or []:
            if str(rule.get("contains", "")) in str(last):
                return str(rule.get("reply", ""))
        if state.get("reply"):
            return str(state["reply"])
        return f"echo: {last}"

    def tool_calls_for(body: dict[str, Any]) -> list[dict[str, Any]]:
        """The calls a model makes here: none once the last message is a tool result."""
        tools = [t["function"] for t in body.get("tools") or [] if isinstance(t.get("function"), dict)]
        choice = body.get("tool_choice")
        messages = body.get("messages") or []
        if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
            return []
        if isinstance(choice, dict):
            tools = [t for t in tools if t.get("name") == choice.get("function", {}).get("name")]
        elif body.get("parallel_tool_calls") is False:
            tools = tools[:1]
        users = [m for m in messages if m.get("role") == "user"]
        last = str(users[-1].get("content") or "") if users else ""
        if state.get("tool_calls") is not None:  # told verbatim: a model's (or a hostile upstream's)
            return list(state["tool_calls"])
        calls = []
        for tool in tools:
            arguments = state.get("tool_arguments")
            if arguments is None:
                properties = (tool.get("parameters") or {}).get("properties") or {}
                arguments = {k: last for k, v in properties.items() if v.get("type", "string") == "string"}
            calls.append(
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {
                        "name": tool["name"],
                        "arguments": json.dumps(arguments, ensure_ascii=False),
                    },
                }
            )
        return calls

    def tool_result_answer(body: dict[str, Any]) -> str | None:
        """The answer to a conversation that ends with tool results: what they said."""
        results = []
        for m in reversed(body.get("messages") or []):
            if m.get("role") != "tool":
                break
            results.insert(0, str(m.get("content") or ""))
        return "According to the tool: " + " ".join(results) if results else None

    async def chat(request: Request) -> Response:
        body = await request.json()
        if len(received) < 10_000:
            received.append(body)
        if state["delay_ms"]:
            await asyncio.sleep(state["delay_ms"] / 1000)
        if state["fail_status"]:
            status = int(state["fail_status"])
            return JSONResponse(
                {"error": {"message": f"stub failure {status}", "type": "stub"}}, status_code=status
            )
        calls = tool_calls_for(body)
        if calls or state.get("tool_deltas"):
            return tool_call_reply(body, calls)
        text = tool_result_answer(body) or answer_for(body)
        words = text.split(" ")
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and 0 < limit < len(words):  # as a real upstream does: one word a token
            words = words[:limit]
            text = " ".join(words)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model", model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )

        pace = float(state.get("tokens_per_s") or 0.0)

        async def events():  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            for i, word in enumerate(words):
                if pace:  # on a schedule, so a slow reader does not slow the "model" down
                    await asyncio.sleep(max(0.0, started + (i + 1) / pace - time.perf_counter()))
                piece = word if i == 0 else " " + word
                chunk = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            last = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(last)}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'id': cid, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def tool_call_reply(body: dict[str, Any], calls: list[dict[str, Any]]) -> Response:
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        completion = sum(len(json.dumps(c)) // 4 + 1 for c in calls)
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        head = {"id": cid, "created": created, "model": body.get("model", model)}
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return JSONResponse({**head, "object": "chat.completion", "choices": [choice], "usage": usage})

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return f"data: {json.dumps({**head, 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"

        async def events():  # type: ignore[no-untyped-def]
            yield chunk({"role": "assistant", "content": None})
            if state.get("tool_deltas"):  # told verbatim, one delta an event, then no finish
                for delta in state["tool_deltas"]:
                    yield chunk(delta)
                yield "data: [DONE]\n\n"
                return
            for index, call in enumerate(calls):
                first = {"index": index, "id": call["id"], "type": "function"}
                yield chunk(
                    {
                        "tool_calls": [
                            {**first, "function": {"name": call["function"]["name"], "arguments": ""}}
                        ]
                    }
                )
                arguments = call["function"]["arguments"]
                for at in range(0, len(arguments), 7):  # fragments that cut through words and quotes
                    piece = {"index": index, "function": {"arguments": arguments[at : at + 7]}}
                    yield chunk({"tool_calls": [piece]})
            yield chunk({}, "tool_calls")
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'id': cid, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model"}]})

    async def requests_seen(_request: Request) -> Response:
        return JSONResponse(received)

    async def control(request: Request) -> Response:
        state.update(await request.json())
        if state.pop("clear", False):
            received.clear()
        return JSONResponse(state)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/_requests", requests_seen, methods=["GET"]),
            Route("/_control", control, methods=["POST"]),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-s", type=float, default=0.0, help="stream at this pace (0: at once)")
    args = parser.parse_args()
    app = create_upstream(args.delay_ms, tokens_per_s=args.tokens_per_s)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
