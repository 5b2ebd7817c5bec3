"""How a trial reaches the gateway: over HTTP to a running server, or in-process through ASGI.

Either way the request takes the same path (key -> workspace -> guards -> quota -> backend ->
ledger) as any participant's app; the trial header ties each call to its trial and case. In
process, the caller may hand in its own transport; without one the runner uses the gateway-only
app, never the web pages or the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from finsandbox.gateway.service import CASE_HEADER, TRIAL_HEADER


@dataclass
class ChatOutcome:
    """One gateway call as the runner sees it."""

    text: str = ""
    status: int = 200
    blocked: bool = False
    error: str | None = None
    error_code: str | None = None
    ledger_seq: int | None = None
    guard_decisions: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    # The gateway's model view of the call (only for a trial's own key); held in memory only.
    model_view: dict[str, Any] | None = field(default=None, repr=False)


def make_http_client(
    base_url: str | None,
    timeout: float = 300.0,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for `base_url` (ending in /v1), or for an in-process gateway when it is None.

    `transport` is how an in-process caller reaches its gateway; the default is the gateway-only app.
    """
    if base_url:
        return httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
    if transport is None:
        from finsandbox.gateway.http import create_gateway_app

        transport = httpx.ASGITransport(app=create_gateway_app())
    return httpx.AsyncClient(transport=transport, base_url="http://finsandbox.internal/v1", timeout=timeout)


class GatewayClient:
    """Chat completions for one trial, one key and one endpoint."""

    def __init__(self, http: httpx.AsyncClient, *, secret: str, trial_id: str, endpoint: str) -> None:
        self.http = http
        self.secret = secret
        self.trial_id = trial_id
        self.endpoint = endpoint

    @property
    def base_url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def headers(self, case_id: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.secret}", TRIAL_HEADER: self.trial_id}
        if case_id:
            headers[CASE_HEADER] = case_id
        return headers

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        case_id: str | None = None,
        endpoint: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatOutcome:
        body: dict[str, Any] = {"model": endpoint or self.endpoint, "messages": messages}
        for name, value in (("max_tokens", max_tokens), ("temperature", temperature), ("seed", seed)):
            if value is not None:
                body[name] = value
        response = await self.http.post("/chat/completions", json=body, headers=self.headers(case_id))
        try:
            data = response.json()
        except ValueError:
            return ChatOutcome(
                status=response.status_code, error=f"the gateway answered HTTP {response.status_code}"
            )
        extra = data.get("finsandbox") or {}
        outcome = ChatOutcome(
            status=response.status_code,
            ledger_seq=extra.get("ledger_seq"),
            guard_decisions=list(extra.get("guard_decisions") or []),
            model_view=extra.get("model_view") if isinstance(extra.get("model_view"), dict) else None,
        )
        if response.status_code == 200:
            outcome.text = data["choices"][0]["message"].get("content") or ""
            outcome.usage = data.get("usage") or {}
            return outcome
        err = data.get("error") or {}
        outcome.error = err.get("message") or f"HTTP {response.status_code}"
        outcome.error_code = err.get("code")
        outcome.blocked = outcome.error_code == "guard_blocked"
        return outcome
