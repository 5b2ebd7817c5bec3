"""The playground: chat with a workspace's endpoints through the gateway, turn by turn, with guard decisions.

Each chat goes to this server's own `/v1/chat/completions` over loopback HTTP with a short-lived
playground key of the workspace, so keys, quotas, guards and the ledger apply exactly as they do
to a participant's app. The reply streams to the browser as server-sent events; when the gateway
has recorded the call, the final event carries that turn's guard decisions and its ledger entry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from finsandbox.access import create_key
from finsandbox.access.keys import key_state
from finsandbox.errors import InvalidRequest
from finsandbox.programme import list_endpoints
from finsandbox.store import session_scope
from finsandbox.store.models import ApiKey, LedgerEntry, UsageRecord, Workspace
from finsandbox.web.base import CsrfFailed, Page, Viewer, csrf_ok, open_page
from finsandbox.web.workspaces import workspace_for

router = APIRouter()

KEY_LIFETIME = timedelta(hours=12)
MAX_TURNS = 40
# Secrets of the playground keys this process created, by (user id, workspace id); never stored.
_secrets: dict[tuple[str, str], tuple[str, str]] = {}
_lock = threading.Lock()


def playground_secret(page: Page, workspace_id: str) -> tuple[str, str]:
    """(secret, key id) of this user's live playground key for the workspace, creating one when needed."""
    slot = (page.user.id, workspace_id)
    with _lock:
        cached = _secrets.get(slot)
    if cached is not None:
        key = page.session.get(ApiKey, cached[1])
        if key is not None and key_state(key) == "active":
            return cached
    workspace = page.session.get(Workspace, workspace_id)
    assert workspace is not None
    new = create_key(
        page.session,
        workspace,
        name=f"playground · {page.user.email}",
        actor=page.actor,
        expires_at=datetime.now(UTC) + KEY_LIFETIME,
    )
    with _lock:
        _secrets[slot] = (new.secret, new.key.id)
    return new.secret, new.key.id


def gateway_base(request: Request) -> str:
    """This server's own address, as the connection reached it (loopback in tests and demos)."""
    server = request.scope.get("server")
    if not server:
        raise InvalidRequest("the playground needs the server's address; run it with `finsandbox serve`")
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/v1"


@router.get("/w/{slug}/playground", include_in_schema=False)
def playground(page: Viewer, slug: str) -> Response:
    ws = workspace_for(page, slug, "workspace.view")
    return page.render(
        "playground.html",
        {
            "ws": ws,
            "endpoints": list_endpoints(page.session, ws.id),
            "can_chat": page.may("playground.use", ws),
        },
    )


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _recorded(key_id: str, after: datetime) -> tuple[int | None, list[dict[str, Any]]]:
    """The ledger entry and guard decisions of the key's latest call since `after`."""
    with session_scope() as s:
        seq = s.scalars(
            select(UsageRecord.ledger_seq)
            .where(UsageRecord.key_id == key_id, UsageRecord.created_at >= after)
            .order_by(UsageRecord.created_at.desc())
            .limit(1)
        ).first()
        if seq is None:
            return None, []
        entry = s.get(LedgerEntry, seq)
        payload = json.loads(entry.payload) if entry else {}
        return seq, list(payload.get("guard_decisions") or [])


@router.post("/w/{slug}/playground/chat", include_in_schema=False)
async def chat(request: Request, slug: str) -> Response:
    if not await csrf_ok(request):
        raise CsrfFailed()
    try:
        body = await request.json()
        messages = [
            {"role": str(m["role"]), "content": str(m["content"])}
            for m in body["messages"][-MAX_TURNS:]
            if m.get("role") in ("user", "assistant")
        ]
        endpoint = str(body["endpoint"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidRequest("send JSON with an endpoint and a list of messages") from None

    def prepare() -> tuple[str, str]:
        with open_page(request, write=True) as page:
            ws = workspace_for(page, slug, "playground.use")
            return playground_secret(page, ws.id)

    secret, key_id = await anyio.to_thread.run_sync(prepare)
    base = gateway_base(request)
    started = datetime.now(UTC) - timedelta(seconds=1)

    async def events() -> AsyncIterator[str]:
        payload = {"model": endpoint, "messages": messages, "stream": True, "max_tokens": 256}
        headers = {"Authorization": f"Bearer {secret}"}
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0)) as client,
                client.stream("POST", f"{base}/chat/completions", json=payload, headers=headers) as resp,
            ):
                if resp.status_code != 200:
                    data = json.loads(await resp.aread())
                    extra = data.get("finsandbox") or {}
                    yield _sse(
                        {
                            "type": "error",
                            "message": data.get("error", {}).get("message", f"HTTP {resp.status_code}"),
                            "decisions": extra.get("guard_decisions", []),
                            "ledger_seq": extra.get("ledger_seq"),
                        }
                    )
                    return
                error: str | None = None
                async for line in resp.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if "error" in chunk:
                        error = chunk["error"].get("message", "the gateway stopped the reply")
                        continue
                    for choice in chunk.get("choices", []):
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield _sse({"type": "delta", "text": text})
        except httpx.HTTPError as exc:
            yield _sse(
                {"type": "error", "message": f"the gateway could not be reached ({type(exc).__name__})"}
            )
            return
        seq, decisions = await anyio.to_thread.run_sync(_recorded, key_id, started)
        if error:
            yield _sse({"type": "error", "message": error, "decisions": decisions, "ledger_seq": seq})
        else:
            yield _sse({"type": "done", "decisions": decisions, "ledger_seq": seq})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
