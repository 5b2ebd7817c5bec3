"""An external app: JSON in, JSON out, whose own model calls come back through the gateway.

The runner sends the case and the gateway coordinates (base URL, a trial key, the endpoint,
and the headers that tie each call to this trial and case); the app answers with
`{"answer": str, "contexts": [{"id": str, "text": str}, ...]}`. The guard decisions and
ledger entries of the app's calls are then found by trial and case in the meter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from finsandbox.errors import ConfigError, FinsandboxError
from finsandbox.evals.client import GatewayClient
from finsandbox.evals.model import Case, Recipe
from finsandbox.evals.scorers.base import Evidence
from finsandbox.evals.targets.base import RunSettings, Target, TargetOutput, TargetSpec, target


class TargetUnreachable(FinsandboxError):
    status_code = 502
    error_type = "upstream_error"
    code = "target_unreachable"


@target("external")
class ExternalTarget(Target):
    kind: ClassVar[str] = "external"
    evidence_from_gateway: ClassVar[bool] = True

    @classmethod
    def from_spec(cls, spec: TargetSpec) -> ExternalTarget:
        if not spec.external_url or not spec.gateway_url:
            raise ConfigError(
                "an external target needs the app's URL and the gateway address the app will call"
            )
        return cls(spec.external_url, spec.gateway_url)

    def __init__(self, url: str, gateway_url: str, timeout: float = 300.0) -> None:
        self.url = url
        self.gateway_url = gateway_url
        self._http = httpx.AsyncClient(timeout=timeout)

    async def run(
        self, case: Case, recipe: Recipe, client: GatewayClient, settings: RunSettings, case_key: str
    ) -> TargetOutput:
        request = {
            "case_id": case_key,
            "input": case.user_text,
            "messages": case.messages(),
            "context": [d.model_dump() for d in case.context],
            "system_prompt": recipe.target.system_prompt,
            "gateway": {
                "base_url": self.gateway_url,
                "api_key": client.secret,
                "model": client.endpoint,
                "headers": client.headers(case_key),
                "max_tokens": settings.max_tokens,
                "temperature": settings.temperature,
                "seed": settings.seed,
            },
        }
        try:
            response = await self._http.post(self.url, json=request)
        except httpx.HTTPError as exc:
            raise TargetUnreachable(
                f"the target app at {self.url} cannot be reached ({type(exc).__name__})"
            ) from None
        return parse_reply(self.url, response)

    async def aclose(self) -> None:
        await self._http.aclose()


def parse_reply(url: str, response: httpx.Response) -> TargetOutput:
    """The app's answer, or an error that names the app and what was wrong with its reply."""
    if response.status_code >= 400:
        return TargetOutput(
            text="", evidence=Evidence(error=f"the target app at {url} answered HTTP {response.status_code}")
        )
    try:
        data: Any = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        return TargetOutput(
            text="", evidence=Evidence(error=f"the target app at {url} returned non-JSON ({kind})")
        )
    if not isinstance(data, dict) or not isinstance(data.get("answer"), str):
        return TargetOutput(
            text="",
            evidence=Evidence(error=f"the target app at {url} returned JSON without a string 'answer'"),
        )
    contexts = data.get("contexts") or []
    retrieved = [
        {"id": str(c.get("id", i)), "text": str(c.get("text", ""))}
        for i, c in enumerate(contexts)
        if isinstance(c, dict)
    ]
    return TargetOutput(text=data["answer"], evidence=Evidence(retrieved=retrieved))
