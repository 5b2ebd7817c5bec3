"""The regulator's framework as data: principles, what evidences them, thresholds and grades.

A programme supervised under another regime (MAS FEAT, the EU AI Act) loads another YAML file of
the same shape; nothing in code names a principle. Errors name the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finsandbox.access.roles import THEMES
from finsandbox.config import get_settings
from finsandbox.configfile import line_of, parse_yaml, read_text, validation_problems
from finsandbox.errors import ConfigError
from finsandbox.evals.model import Suite

DEFAULT_FRAMEWORK = Path(__file__).parent / "frameworks" / "hkma.yaml"
PROGRAMME_FRAMEWORK = "framework.yaml"
"""A file of this name in the data directory replaces the default for the whole programme."""

_ID = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Principle(_Strict):
    """One item of the framework that scores roll up to."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    evidence: list[str] = Field(min_length=1)
    # Overrides the framework's pass threshold for this principle.
    pass_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # "programme": evidenced by how the sandbox runs (roles, sign-off, the ledger), not by recipes,
    # so recipe coverage is not required of it.
    evidenced_by: Literal["recipes", "programme"] = "recipes"


class GradeBand(_Strict):
    grade: str = Field(min_length=1, max_length=20)
    min: float = Field(ge=0.0, le=1.0)


class Framework(_Strict):
    """A named, versioned set of principles with the thresholds and grade bands to judge them."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str = "1"
    title: str = ""
    source: str = ""
    pass_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    grades: list[GradeBand] = Field(min_length=2)
    principles: list[Principle] = Field(min_length=1)

    @field_validator("grades")
    @classmethod
    def _grades_descend_to_zero(cls, bands: list[GradeBand]) -> list[GradeBand]:
        letters = [b.grade for b in bands]
        if len(set(letters)) != len(letters):
            raise ValueError(f"grade letters must be unique, got {letters}")
        mins = [b.min for b in bands]
        if any(a <= b for a, b in itertools.pairwise(mins)):
            raise ValueError("grade minimums must strictly decrease from the best grade to the worst")
        if mins[-1] != 0.0:
            raise ValueError("the worst grade must have min 0, so every rate gets a grade")
        return bands

    @model_validator(mode="after")
    def _unique_principles(self) -> Framework:
        seen: set[str] = set()
        for p in self.principles:
            if p.id in seen:
                raise ValueError(f"principle '{p.id}' is defined twice")
            seen.add(p.id)
        return self

    def principle(self, pid: str) -> Principle:
        for p in self.principles:
            if p.id == pid:
                return p
        raise KeyError(pid)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.principles]

    def threshold(self, pid: str | None = None) -> float:
        if pid is not None:
            try:
                override = self.principle(pid).pass_threshold
            except KeyError:
                override = None
            if override is not None:
                return override
        return self.pass_threshold

    def grade(self, rate: float | None) -> str | None:
        """The grade of a pass rate: the first band whose minimum it reaches; None for no data."""
        if rate is None:
            return None
        for band in self.grades:
            if rate >= band.min - 1e-12:
                return band.grade
        return self.grades[-1].grade


@dataclass(frozen=True)
class LoadedFramework:
    framework: Framework
    path: Path
    digest: str

    @property
    def name(self) -> str:
        return self.framework.name


def _duplicate_principles(data: Any, node: Any, label: str) -> list[str]:
    """Name every repeated principle id with its line, before pydantic reports only the first."""
    problems: list[str] = []
    principles = data.get("principles") if isinstance(data, dict) else None
    if not isinstance(principles, list):
        return problems
    first: dict[str, int] = {}
    for i, item in enumerate(principles):
        pid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(pid, str):
            continue
        line = line_of(node, ("principles", i, "id"))
        if pid in first:
            problems.append(
                f"{label}, line {line}, principles[{i}].id: duplicate principle '{pid}' "
                f"(first defined at principles[{first[pid]}])"
            )
        else:
            first[pid] = i
    return problems


def load_framework(path: str | Path | None = None) -> LoadedFramework:
    """Load and validate a framework file; without a path, the programme's (or the default) one."""
    path = Path(path) if path is not None else programme_framework_path()
    label = str(path) if path != DEFAULT_FRAMEWORK else "frameworks/hkma.yaml (default)"
    text = read_text(path, label, "framework file")
    data, node = parse_yaml(text, label)
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a framework must be a mapping with name, grades and principles")
    duplicates = _duplicate_principles(data, node, label)
    if duplicates:
        raise ConfigError("\n".join(duplicates))
    try:
        framework = Framework.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_problems(exc, data, node, label))) from None
    return LoadedFramework(
        framework=framework, path=path, digest=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


def programme_framework_path() -> Path:
    """The programme's framework: `framework.yaml` in the data directory if present, else the default."""
    chosen = get_settings().home / PROGRAMME_FRAMEWORK
    return chosen if chosen.is_file() else DEFAULT_FRAMEWORK


@dataclass
class Coverage:
    """Which principles each theme's recipes evidence, and what is missing or unknown."""

    framework: str
    themes: list[str]
    evidenced: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # theme -> principle -> recipes
    missing: dict[str, list[str]] = field(default_factory=dict)  # theme -> principles with no recipe
    unknown: list[str] = field(default_factory=list)  # "suite/recipe: principle" not in the framework

    @property
    def ok(self) -> bool:
        return not any(self.missing.values()) and not self.unknown

    def messages(self) -> list[str]:
        out = [f"recipe {u} which is not a principle of {self.framework}" for u in self.unknown]
        for theme, pids in self.missing.items():
            if pids:
                out.append(f"theme {theme}: no recipe evidences {', '.join(pids)}")
        return out


def coverage(framework: Framework, suites: Iterable[Suite], themes: Iterable[str] | None = None) -> Coverage:
    """Check that every principle is evidenced by at least one recipe of each theme.

    Themes default to those the suites cover; naming themes also reports a theme with no recipes.
    """
    suites = list(suites)
    per_theme: dict[str, dict[str, list[str]]] = {}
    unknown: list[str] = []
    for suite in suites:
        for recipe in suite.recipes:
            theme = suite.theme_of(recipe) or "unspecified"
            bucket = per_theme.setdefault(theme, {})
            for pid in recipe.principles:
                if pid not in framework.ids:
                    unknown.append(f"{suite.name}/{recipe.name} declares '{pid}'")
                    continue
                bucket.setdefault(pid, []).append(f"{suite.name}/{recipe.name}")
    wanted = list(themes) if themes is not None else sorted(per_theme)
    for theme in wanted:
        if theme not in THEMES and theme != "unspecified":
            raise ConfigError(f"unknown theme {theme!r}; use one of {', '.join(THEMES)}")
    result = Coverage(framework=framework.name, themes=wanted, unknown=unknown)
    for theme in wanted:
        got = per_theme.get(theme, {})
        result.evidenced[theme] = {pid: got[pid] for pid in framework.ids if pid in got}
        result.missing[theme] = [
            pid
            for pid in framework.ids
            if pid not in got and framework.principle(pid).evidenced_by == "recipes"
        ]
    return result
