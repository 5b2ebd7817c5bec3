"""JSON-schema validity: the output is JSON that satisfies the recipe's schema."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import Field, field_validator

from finsandbox.evals.model import Case
from finsandbox.evals.scorers._json import extract_json
from finsandbox.evals.scorers.base import Evidence, Score, Scorer, ScorerSettings, scorer


def _check_schema(schema: dict[str, Any]) -> None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from None


class JsonSchemaSettings(ScorerSettings):
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_schema(value)
        return value


@scorer("json_schema")
class JsonSchema(Scorer):
    """Structured outputs (a filled KYC form, an alert triage) must parse before fields can be judged."""

    Settings = JsonSchemaSettings

    def _schema(self, case: Case) -> dict[str, Any] | None:
        s: JsonSchemaSettings = self.settings  # type: ignore[assignment]
        return case.expected.get("schema") or s.json_schema

    def problem(self, case: Case) -> str | None:
        schema = self._schema(case)
        if schema is None:
            return "no schema: set settings.schema or expected.schema"
        try:
            _check_schema(schema)
        except ValueError as exc:
            return f"expected.schema is {exc}"
        return None

    def score(self, case: Case, output: str, evidence: Evidence) -> Score:
        value, why = extract_json(output)
        if why:
            return self.result(0.0, why, errors=[why])
        validator = Draft202012Validator(self._schema(case) or {})
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        messages = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]
        if messages:
            return self.result(0.0, f"JSON fails the schema: {messages[0]}", errors=messages[:20])
        return self.result(1.0, "JSON satisfies the schema", errors=[])
