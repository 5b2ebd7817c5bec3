"""The model calls that guards make (the `checker` guard), as the gateway's own calls.

Guards sit below the gateway and cannot import it, so the gateway hands each call's guards a
`ModelCaller` in their context. It resolves the checker endpoint among the workspace's endpoints,
calls that endpoint's backend directly (a check is never routed through the output guards again,
so it cannot recurse), and meters and records the call in the ledger as `gateway.check`: the
workspace's key that made the checked call pays its tokens, and the trial and case it belongs to
are named. Guards run in worker threads; the backend call runs on the gateway's event loop, where
the backend's connections live, and the caller waits for it at most the guard's time budget.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from finsandbox import ledger
from finsandbox.errors import FinsandboxError
from finsandbox.gateway.backends import ChatRequest, ChatResult, get_backend
from finsandbox.gateway.endpoints import get_endpoint
from finsandbox.gateway.metering import CallRecord, RecordCall
from finsandbox.gateway.quotas import Quotas
from finsandbox.gateway.writer import writer
from finsandbox.guards import ModelReply
from finsandbox.store.db import session_scope

CHECK_KIND = "gateway.check"
_RECORD_TIMEOUT_S = 30.0


@dataclass
class GatewayModelCaller:
    """A `ModelCaller` bound to one gateway call: whose key pays, which trial and case it serves."""

    workspace_id: str
    key_id: str
    key_prefix: str
    checked_endpoint: str
    loop: asyncio.AbstractEventLoop
    quotas: Quotas
    trial_id: str | None = None
    case_id: str | None = None

    def _resolve(self, endpoint: str) -> tuple[str, dict[str, Any]]:
        with session_scope() as session:
            row = get_endpoint(session, self.workspace_id, endpoint)
            return row.backend, dict(row.config)

    def __call__(
        self,
        endpoint: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        timeout_s: float,
        response_format: dict[str, Any] | None = None,
    ) -> ModelReply:
        started = time.perf_counter()
        kind, config = self._resolve(endpoint)
        backend = get_backend(kind, config)
        request = ChatRequest(
            messages=list(messages),
            max_tokens=max_tokens,
            temperature=0.0,
            seed=0,
            response_format=response_format if backend.supports_response_format else None,
        )
        future = asyncio.run_coroutine_threadsafe(backend.complete(request), self.loop)
        left = max(0.0, timeout_s - (time.perf_counter() - started))
        try:
            result: ChatResult = future.result(timeout=left)
        except FutureTimeout:
            future.cancel()
            self._record(endpoint, kind, backend.model_name, messages, started, None, "error:timeout")
            raise TimeoutError(f"checker {endpoint!r} gave no answer within {timeout_s:g} s") from None
        except FinsandboxError as exc:
            self._record(
                endpoint,
                kind,
                backend.model_name,
                messages,
                started,
                None,
                f"error:{exc.code or exc.error_type}",
            )
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        self._record(endpoint, kind, result.model or backend.model_name, messages, started, result, "ok")
        return ModelReply(
            text=result.text,
            endpoint=endpoint,
            model=result.model or backend.model_name,
            backend=kind,
            latency_ms=latency_ms,
        )

    def _record(
        self,
        endpoint: str,
        kind: str,
        model: str,
        messages: list[dict[str, str]],
        started: float,
        result: ChatResult | None,
        status: str,
    ) -> None:
        """Meter and record the checker's own call; its text is digested, never stored."""
        usage = result.usage if result is not None else None
        call = CallRecord(
            workspace_id=self.workspace_id,
            key_id=self.key_id,
            key_prefix=self.key_prefix,
            endpoint=endpoint,
            backend=kind,
            model=model,
            trial_id=self.trial_id,
            case_id=self.case_id,
            stream=False,
            status=status,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=(time.perf_counter() - started) * 1000,
            prompt_digest=ledger.sha256_hex(ledger.canonical(messages)),
            completion_digest=ledger.sha256_hex(result.text) if result is not None else None,
            finish_reason=result.finish_reason if result is not None else None,
            kind=CHECK_KIND,
            extra={"checks": {"endpoint": self.checked_endpoint, "guard": "checker"}},
        )
        writer().submit(RecordCall(call, self.quotas)).result(timeout=_RECORD_TIMEOUT_S)


__all__ = ["CHECK_KIND", "GatewayModelCaller"]
