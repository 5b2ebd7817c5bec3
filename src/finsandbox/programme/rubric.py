"""The admission rubric as data, and how several assessors' scores become one view of an application.

A programme changes criteria and weights by editing YAML, never code. The aggregate is a weighted
mean per assessor, then a plain mean across assessors, so one assessor who scores harshly counts
once; the per-criterion spread shows where assessors disagree.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finsandbox.config import get_settings
from finsandbox.configfile import parse_yaml, read_text, validation_problems
from finsandbox.errors import ConfigError, InvalidRequest

DEFAULT_RUBRIC = Path(__file__).parent / "rubrics" / "default.yaml"
PROGRAMME_RUBRIC = "rubric.yaml"
"""A file of this name in the data directory replaces the default rubric for the whole programme."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    min: int = 1
    max: int = 5

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be above min ({self.min})")
        return self


class Criterion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    weight: float = Field(gt=0)


class Rubric(_Strict):
    """Named, versioned criteria with weights, the score scale, and how many assessors admission needs."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str = "1"
    title: str = ""
    min_assessments: int = Field(default=2, ge=1)
    scale: Scale = Scale()
    criteria: list[Criterion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        seen: set[str] = set()
        for c in self.criteria:
            if c.id in seen:
                raise ValueError(f"criterion '{c.id}' is defined twice")
            seen.add(c.id)
        return self

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    def weighted(self, scores: Mapping[str, int]) -> float:
        """The weighted mean of one assessor's scores (weights need not sum to one)."""
        total = sum(c.weight for c in self.criteria)
        return sum(c.weight * scores[c.id] for c in self.criteria) / total


@dataclass(frozen=True)
class LoadedRubric:
    rubric: Rubric
    path: Path
    digest: str

    @property
    def name(self) -> str:
        return self.rubric.name


def programme_rubric_path() -> Path:
    chosen = get_settings().home / PROGRAMME_RUBRIC
    return chosen if chosen.is_file() else DEFAULT_RUBRIC


def load_rubric(path: str | Path | None = None) -> LoadedRubric:
    """Load and validate a rubric; errors name the file, the line and the field."""
    path = Path(path) if path is not None else programme_rubric_path()
    label = str(path) if path != DEFAULT_RUBRIC else "rubrics/default.yaml (default)"
    text = read_text(path, label, "rubric")
    data, node = parse_yaml(text, label)
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a rubric must be a mapping with name and criteria")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_problems(exc, data, node, label))) from None
    return LoadedRubric(rubric=rubric, path=path, digest=hashlib.sha256(text.encode("utf-8")).hexdigest())


def validate_scores(rubric: Rubric, scores: Mapping[str, Any]) -> dict[str, int]:
    """Every criterion scored once, as a whole number on the scale; the error names the criterion."""
    unknown = [k for k in scores if k not in rubric.ids]
    if unknown:
        raise InvalidRequest(
            f"unknown criterion {unknown[0]!r}; the rubric {rubric.name} scores {', '.join(rubric.ids)}",
            param=f"scores.{unknown[0]}",
        )
    out: dict[str, int] = {}
    lo, hi = rubric.scale.min, rubric.scale.max
    for c in rubric.criteria:
        if c.id not in scores or scores[c.id] in (None, ""):
            raise InvalidRequest(f"score {c.name} ({c.id}) from {lo} to {hi}", param=f"scores.{c.id}")
        value = scores[c.id]
        try:
            number = int(value)
            if isinstance(value, bool) or (isinstance(value, float | str) and float(value) != number):
                raise ValueError
        except (TypeError, ValueError):
            raise InvalidRequest(
                f"{c.name} must be a whole number from {lo} to {hi}, not {value!r}", param=f"scores.{c.id}"
            ) from None
        if not lo <= number <= hi:
            raise InvalidRequest(f"{c.name} must be from {lo} to {hi}, not {number}", param=f"scores.{c.id}")
        out[c.id] = number
    return out


@dataclass(frozen=True)
class AssessorScore:
    assessor: str
    weighted: float
    scores: dict[str, int]
    comment: str


@dataclass(frozen=True)
class CriterionStats:
    id: str
    name: str
    weight: float
    mean: float | None
    min: int | None
    max: int | None
    spread: int | None  # max - min: how far the assessors disagree
    stdev: float | None


@dataclass(frozen=True)
class Aggregate:
    """Where an application stands on the rubric; `overall` is None until someone has scored it."""

    rubric: str
    rubric_digest: str
    min_assessments: int
    assessors: int
    overall: float | None
    criteria: list[CriterionStats]
    by_assessor: list[AssessorScore]
    stale: int = 0  # assessments made under another rubric version, left out
    notes: list[str] = field(default_factory=list)

    @property
    def enough(self) -> bool:
        return self.assessors >= self.min_assessments

    def as_dict(self) -> dict[str, Any]:
        return {
            "rubric": self.rubric,
            "rubric_digest": self.rubric_digest,
            "min_assessments": self.min_assessments,
            "assessors": self.assessors,
            "enough": self.enough,
            "overall": self.overall,
            "criteria": [c.__dict__ for c in self.criteria],
            "by_assessor": [a.__dict__ for a in self.by_assessor],
            "stale": self.stale,
            "notes": self.notes,
        }


def aggregate(loaded: LoadedRubric, assessments: Sequence[Any]) -> Aggregate:
    """Aggregate `Assessment` rows (scores, rubric_digest, assessor, comment) under the current rubric."""
    rubric = loaded.rubric
    current = [a for a in assessments if a.rubric_digest == loaded.digest]
    stale = len(assessments) - len(current)
    per = [
        AssessorScore(
            assessor=a.assessor.email,
            weighted=round(rubric.weighted(a.scores), 4),
            scores={k: int(a.scores[k]) for k in rubric.ids},
            comment=a.comment,
        )
        for a in current
    ]
    stats = []
    for c in rubric.criteria:
        values = [p.scores[c.id] for p in per]
        stats.append(
            CriterionStats(
                id=c.id,
                name=c.name,
                weight=c.weight,
                mean=round(statistics.fmean(values), 4) if values else None,
                min=min(values) if values else None,
                max=max(values) if values else None,
                spread=(max(values) - min(values)) if values else None,
                stdev=round(statistics.pstdev(values), 4) if values else None,
            )
        )
    notes = []
    if stale:
        notes.append(
            f"{stale} assessment(s) were made under another version of the rubric and are left out; "
            "their assessors should score again"
        )
    return Aggregate(
        rubric=rubric.name,
        rubric_digest=loaded.digest,
        min_assessments=rubric.min_assessments,
        assessors=len(per),
        overall=round(statistics.fmean(p.weighted for p in per), 4) if per else None,
        criteria=stats,
        by_assessor=per,
        stale=stale,
        notes=notes,
    )
