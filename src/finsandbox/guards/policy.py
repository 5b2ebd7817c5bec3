"""Guard policies: a workspace's ordered input and output guards with their settings, as YAML.

Everything is validated when the policy is loaded (guard names, each guard's settings, where a guard
may run), so a typo fails the load with file, line, field and problem instead of weakening a guard
at request time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from finsandbox.configfile import duplicate_keys, line_of, read_text
from finsandbox.errors import ConfigError
from finsandbox.guards.base import GuardSettings, get_guard


def _nested_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> PydanticCustomError:
    """Re-raise a nested validation error, keeping the inner field path for the line lookup."""
    first = exc.errors()[0]
    inner = prefix + tuple(first["loc"]) + tuple((first.get("ctx") or {}).get("inner_loc") or ())
    where = ".".join(str(p) for p in inner)
    problem = str((first.get("ctx") or {}).get("problem") or first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        problem = "unknown setting" if "settings" in inner else "unknown field"
    message = problem if not where else f"{where}: {problem}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PydanticCustomError(
        "guard_settings", "{message}", {"message": message, "problem": problem, "inner_loc": list(inner)}
    )


class GuardSpec(BaseModel):
    """One entry of a policy's input or output list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guard: str
    settings: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int | None = Field(default=None, ge=1, le=60_000, description="overrides limits.timeout_ms")
    enabled: bool = True
    _parsed: GuardSettings = PrivateAttr()

    @field_validator("guard")
    @classmethod
    def _known_guard(cls, name: str) -> str:
        try:
            get_guard(name)
        except ConfigError as exc:
            raise PydanticCustomError("unknown_guard", "{message}", {"message": exc.message}) from None
        return name

    @field_validator("settings", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("settings")
    @classmethod
    def _valid_settings(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("guard")
        if name is not None:
            try:
                get_guard(name).Settings.model_validate(value)
            except ValidationError as exc:
                raise _nested_error(exc) from None
        return value

    def model_post_init(self, context: Any) -> None:
        self._parsed = get_guard(self.guard).Settings.model_validate(self.settings)

    @property
    def parsed_settings(self) -> GuardSettings:
        return self._parsed


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_input_chars: int = Field(default=100_000, ge=1, description="larger inputs are refused (HTTP 413)")
    timeout_ms: int = Field(default=1_000, ge=1, le=60_000, description="per guard call; slower is a block")
    stream_window_chars: int = Field(
        default=256, ge=16, description="the most streamed text held back waiting for a sentence to end"
    )
    stream_holdback_chars: int = Field(
        default=0, ge=0, description="streamed characters held back beyond what the guards ask for"
    )
    stream_check_interval_ms: int = Field(
        default=50,
        ge=0,
        le=5_000,
        description="least time between two checks of a streamed reply; deltas arriving sooner are "
        "checked with the next one (0: check every delta)",
    )


class GuardPolicy(BaseModel):
    """A workspace's guard policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str | None = None
    customer_facing: bool = False
    # What the caller gets back where input PII guards put placeholders: `redact` keeps the reply
    # as the model wrote it (irreversible; for endpoints that must never see or return values),
    # `pseudonymise` restores the caller's values from the call's in-memory vault.
    pii: Literal["redact", "pseudonymise"] = "redact"
    limits: Limits = Field(default_factory=Limits)
    input: list[GuardSpec] = Field(default_factory=list)
    output: list[GuardSpec] = Field(default_factory=list)

    @field_validator("input", "output", mode="wrap")
    @classmethod
    def _specs(cls, value: Any, handler: Any, info: Any) -> list[GuardSpec]:
        if isinstance(value, list):
            specs = []
            for i, item in enumerate(value):
                try:
                    specs.append(item if isinstance(item, GuardSpec) else GuardSpec.model_validate(item))
                except ValidationError as exc:
                    raise _nested_error(exc, (i,)) from None
        else:
            specs = handler(value)
        for i, spec in enumerate(specs):
            later_pii = any(s.guard == "pii" and s.enabled for s in specs[i + 1 :])
            if get_guard(spec.guard).after_redaction and spec.enabled and later_pii:
                # It sends the text to a model: that text must already be free of personal data.
                problem = f"guard {spec.guard!r} must come after the pii guard (it sends the text to a model)"
                raise PydanticCustomError(
                    "guard_order",
                    "{message}",
                    {"message": f"{i}.guard: {problem}", "problem": problem, "inner_loc": [i, "guard"]},
                )
            allowed = get_guard(spec.guard).directions
            if info.field_name not in allowed:
                raise PydanticCustomError(
                    "wrong_direction",
                    "{message}",
                    {
                        "message": f"{i}.guard: guard {spec.guard!r} checks {' and '.join(allowed)} only",
                        "problem": f"guard {spec.guard!r} checks {' and '.join(allowed)} only",
                        "inner_loc": [i, "guard"],
                    },
                )
        return specs

    def with_ner(self, enabled: bool) -> GuardPolicy:
        """A copy whose PII guards all use (or skip) the NER model: the CLI's --ner/--no-ner."""

        def patch(specs: list[GuardSpec]) -> list[dict[str, Any]]:
            out = []
            for spec in specs:
                data = spec.model_dump()
                if spec.guard == "pii":
                    data["settings"] = {**spec.settings, "ner": enabled}
                out.append(data)
            return out

        return GuardPolicy.model_validate(
            {
                **self.model_dump(exclude={"input", "output"}),
                "input": patch(self.input),
                "output": patch(self.output),
            }
        )


# -- loading -------------------------------------------------------------------------------------


def load_policy(path: Path | str) -> GuardPolicy:
    """Read and validate a policy file; ConfigError names the file, line, field and problem."""
    path = Path(path)
    return parse_policy(read_text(path, str(path), "policy file"), source=str(path))


def parse_policy(text: str, source: str = "<policy>") -> GuardPolicy:
    """Validate policy YAML text; `source` names it in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"{source}: policy is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: policy must be a mapping with 'input' and 'output' lists")
    duplicate = next(duplicate_keys(node), None)
    if duplicate is not None:
        key, line, _ = duplicate
        raise ConfigError(f"{source}:{line}: key {key!r} appears twice")
    try:
        return GuardPolicy.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = list(error["loc"])
        message = error["msg"]
        ctx = error.get("ctx") or {}
        loc += list(ctx.get("inner_loc") or ())
        field = ".".join(str(p) for p in loc)
        message = str(ctx.get("problem") or message).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        line = line_of(node, loc)
        where = f"{source}:{line}" if line else source
        raise ConfigError(f"{where}: {field or 'policy'}: {message}", param=field or None) from None


DEFAULT_POLICY_FILE = "default_policy.yaml"
# Policies shipped with the package, by name: a workspace may start from one of them.
SHIPPED_POLICIES = {"default": DEFAULT_POLICY_FILE, "pseudonymise": "pseudonymise_policy.yaml"}


def shipped_policy_text(name: str = "default") -> str:
    """The YAML of a shipped policy: `default` (irreversible redaction) or `pseudonymise`."""
    try:
        filename = SHIPPED_POLICIES[name]
    except KeyError:
        raise ConfigError(
            f"no shipped guard policy {name!r} (known: {', '.join(SHIPPED_POLICIES)})"
        ) from None
    return resources.files("finsandbox.guards").joinpath(filename).read_text(encoding="utf-8")


def default_policy() -> GuardPolicy:
    """The shipped default: PII placeholders (names included), injection detection, output checks."""
    return parse_policy(shipped_policy_text(), source=f"finsandbox/guards/{DEFAULT_POLICY_FILE}")
