"""The declarative evaluation model: suites hold recipes, recipes name a dataset of cases.

These are plain data, validated by pydantic; loading files and resolving scorer and attack names
against the registries happens in `loader.py`, so a suite built in code validates the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictBool,
    Tag,
    field_validator,
    model_validator,
)

from finsandbox.access.roles import THEMES as THEMES  # re-exported: suites validate themes against it
from finsandbox.access.roles import Theme

_NAME = r"^[a-z0-9][a-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(_Strict):
    """One OpenAI-style chat message."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: str | None = None


class ContextDoc(_Strict):
    """A document the target sees as retrieved content; `metadata.planted` marks attack payloads."""

    id: str = Field(min_length=1)
    text: str
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def planted(self) -> bool:
        return bool(self.metadata.get("planted"))


class Expected(BaseModel):
    """Types of the well-known expectation keys; other keys pass through for custom scorers."""

    model_config = ConfigDict(extra="allow")

    answer: str | int | float | list[str | int | float] | None = None
    label: str | int | None = None
    fields: dict[str, Any] | None = None
    numbers: list[Any] | None = None
    contains: str | list[str] | None = None
    must_not_contain: str | list[str] | None = None
    regex: str | None = None
    must_refuse: StrictBool | None = None
    must_escalate: StrictBool | None = None
    must_disclose: StrictBool | None = None
    attack_should_be_blocked: StrictBool | None = None
    human_label: str | StrictBool | None = None
    human_score: float | None = None


def _input_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "messages"
    if isinstance(value, BaseModel):
        return "messages"
    return None


CaseInput = Annotated[
    Annotated[str, Tag("text")] | Annotated[list[Message], Tag("messages")],
    Discriminator(
        _input_kind,
        custom_error_type="invalid_input",
        custom_error_message="must be a string or a list of messages",
    ),
]


class Case(_Strict):
    """One input with its expectations; attack variants record their origin in `attack`."""

    id: str = Field(min_length=1)
    input: CaseInput
    expected: dict[str, Any] = Field(default_factory=dict)
    context: list[ContextDoc] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    attack: dict[str, Any] | None = None
    group: str | None = None

    # Where the case was read from ("cases.jsonl, line 3"), for error messages.
    _source: str | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _id_one_line(cls, value: str) -> str:
        if "\n" in value or value != value.strip():
            raise ValueError("must be a single line without surrounding spaces")
        return value

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, value: str | list[Message]) -> str | list[Message]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        if isinstance(value, list):
            if not value:
                raise ValueError("must hold at least one message")
            if not any(m.role == "user" for m in value):
                raise ValueError("must hold at least one user message")
        return value

    @field_validator("expected", mode="before")
    @classmethod
    def _expected_types(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        checked = Expected.model_validate(value)
        return checked.model_dump(exclude_unset=True)

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def user_text(self) -> str:
        """The text an attack perturbs: the input string, or the last user message."""
        if isinstance(self.input, str):
            return self.input
        for message in reversed(self.input):
            if message.role == "user":
                return message.content
        return ""

    def with_user_text(self, text: str) -> str | list[Message]:
        """The input with its user text replaced, keeping any earlier turns."""
        if isinstance(self.input, str):
            return text
        messages = [m.model_copy() for m in self.input]
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].role == "user":
                messages[i] = messages[i].model_copy(update={"content": text})
                break
        return messages

    def messages(self) -> list[dict[str, Any]]:
        """The input as OpenAI-style message dicts (without the target's system prompt)."""
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return [m.model_dump(exclude_none=True) for m in self.input]


class FewShotExample(_Strict):
    input: str
    output: str


class Retrieval(_Strict):
    """How the target retrieves context; the runner implements the methods."""

    method: Literal["none", "bm25", "embedding"] = "none"
    corpus: str | None = None
    top_k: int = Field(default=4, ge=1, le=100)

    @model_validator(mode="after")
    def _corpus_needed(self) -> Retrieval:
        if self.method != "none" and not self.corpus:
            raise ValueError(f"retrieval method '{self.method}' needs a corpus path")
        return self


class TargetTemplate(_Strict):
    """The app template a recipe puts around the endpoint: prompt, examples, retrieval."""

    system_prompt: str = ""
    prompt_template: str | None = None
    few_shot: list[FewShotExample] = Field(default_factory=list)
    retrieval: Retrieval = Field(default_factory=Retrieval)


class ScorerSpec(_Strict):
    """A scorer named in a recipe; the case passes it if value >= threshold."""

    name: str = Field(min_length=1)
    threshold: float | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    # The principles this check evidences; None takes the scorer's defaults that the recipe claims.
    principles: list[str] | None = None


class AttackSpec(_Strict):
    name: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Strict):
    """Dataset + target template + scorers and thresholds + the principles it evidences."""

    name: str = Field(pattern=_NAME)
    theme: Theme | None = None
    description: str = ""
    dataset: str | None = None
    cases: list[Case] | None = None
    target: TargetTemplate = Field(default_factory=TargetTemplate)
    scorers: list[ScorerSpec] = Field(min_length=1)
    attacks: list[AttackSpec] = Field(default_factory=list)
    principles: list[str] = Field(default_factory=list)
    max_cases: int | None = Field(default=None, ge=1)

    _base_dir: Path | None = PrivateAttr(default=None)
    _loaded: list[Case] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> Recipe:
        if (self.dataset is None) == (self.cases is None):
            raise ValueError("give exactly one of 'dataset' (a JSONL path) or 'cases' (inline)")
        return self

    @property
    def dataset_path(self) -> Path | None:
        """The dataset file, resolved against the suite file's folder."""
        if self.dataset is None:
            return None
        path = Path(self.dataset)
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        return path

    @property
    def corpus_path(self) -> Path | None:
        corpus = self.target.retrieval.corpus
        if corpus is None:
            return None
        path = Path(corpus)
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        return path


class Suite(_Strict):
    """A named set of recipes for a theme or a risk.

    In YAML a `recipes` entry may also be a path to a file holding one recipe; its dataset and
    corpus paths are then relative to that file.
    """

    name: str = Field(pattern=_NAME)
    theme: Theme | None = None
    description: str = ""
    version: str = "1"
    recipes: list[Recipe] = Field(min_length=1)

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        return self._source

    def recipe(self, name: str) -> Recipe:
        for recipe in self.recipes:
            if recipe.name == name:
                return recipe
        raise KeyError(name)

    def theme_of(self, recipe: Recipe) -> str | None:
        return recipe.theme or self.theme
