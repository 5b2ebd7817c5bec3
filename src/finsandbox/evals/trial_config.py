"""A trial's settings, typed: what an edge asks for (TrialConfig) and what a stored trial holds (StoredTrial).

The CLI, the web pages and the API each build a TrialConfig from their own inputs; the service
checks it and names the field at fault (`param`), never a command-line flag or a form field, so
each edge words the problem its own way. A stored trial's settings are read back through
StoredTrial, never as a bare dict.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from finsandbox.errors import InvalidRequest


class TrialConfig(BaseModel):
    """What to run: suites against one endpoint of a workspace (or an external app), and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: str = Field(description="the workspace the trial runs for")
    endpoint: str = Field(description="the endpoint under test")
    suites: list[str] = Field(description="reference use cases (themes) or suite YAML files")
    name: str | None = Field(default=None, description="a name for the trial")
    recipes: list[str] | None = Field(default=None, description="only these recipes")
    max_cases: int | None = Field(default=None, description="at most this many base cases per recipe")
    max_variants: int | None = Field(default=None, description="at most this many attack variants per case")
    max_tokens: int = Field(default=256, description="max_tokens of each model call")
    temperature: float = 0.0
    seed: int = Field(default=0, description="seed for attacks and generation")
    concurrency: int = Field(default=4, description="cases in flight")
    executor: str = Field(default="local", description="an executor by name: local, ray or a plugin's")
    target: str | None = Field(
        default=None, description="a target by name: endpoint (default), external, or a plugin's"
    )
    external_url: str | None = Field(default=None, description="test an external app (JSON in/out) instead")
    gateway_url: str | None = Field(default=None, description="a running gateway (.../v1)")
    judge_endpoint: str | None = Field(default=None, description="endpoint used by llm_judge scorers")

    @property
    def target_name(self) -> str:
        """The target by name: the one asked for, else external with an external URL, else endpoint."""
        return self.target or ("external" if self.external_url else "endpoint")

    def check(self) -> None:
        """The checks that need no database; the first problem names its field."""
        if not self.suites:
            raise InvalidRequest("name at least one suite", param="suites")
        if self.max_cases is not None and self.max_cases < 1:
            raise InvalidRequest("max_cases must be at least 1", param="max_cases")
        if self.max_variants is not None and self.max_variants < 0:
            raise InvalidRequest("max_variants must be 0 or more", param="max_variants")
        if not 1 <= self.concurrency <= 256:
            raise InvalidRequest("concurrency must be between 1 and 256", param="concurrency")
        if self.max_tokens < 1:
            raise InvalidRequest("max_tokens must be at least 1", param="max_tokens")
        if self.target == "external" and not self.external_url:
            raise InvalidRequest(
                "the external target needs external_url, the app to test", param="external_url"
            )
        if self.external_url and self.target not in (None, "external"):
            raise InvalidRequest(
                f"external_url is for the external target, not {self.target!r}", param="external_url"
            )
        if self.external_url and not self.gateway_url:
            raise InvalidRequest(
                "an external target needs gateway_url, the gateway address the app will call",
                param="gateway_url",
            )


class SuiteRef(BaseModel):
    """A suite as the trial was created with it; a different digest later means the file changed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str
    name: str
    path: str
    digest: str


class StoredTrial(BaseModel):
    """A trial's settings as stored with it (`Trial.config`), read back typed.

    Older trials may lack newer keys; each has the default it had before the key existed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    endpoint: str
    canary: bool = False
    customer_facing: bool = False
    external_url: str | None = None
    gateway_url: str | None = None
    judge_endpoint: str | None = None
    suites: list[SuiteRef]
    recipes: list[str] | None = None
    max_cases: int | None = None
    max_variants: int | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    concurrency: int = 4
    executor: str = "local"
    target: str | None = None  # None: as chosen before targets had names (external_url decides)
    key_prefix: str | None = None


__all__ = ["StoredTrial", "SuiteRef", "TrialConfig"]
