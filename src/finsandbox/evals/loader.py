"""Load suites (YAML) and cases (JSONL), with errors that name the file, the line, the field and
the problem, and bind a recipe's scorers and attacks for a run.

YAML is composed into a node tree first, so a pydantic error location such as
recipes[0].scorers[1].name can be mapped back to the line it came from.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from yaml.nodes import Node

from finsandbox.configfile import (
    Loc,
    clean_loc,
    format_loc,
    join_errors,
    line_of,
    parse_yaml,
    read_text,
)
from finsandbox.errors import ConfigError
from finsandbox.evals.attacks.base import Attack, attack_class, attack_names, get_attack
from finsandbox.evals.model import Case, Recipe, ScorerSpec, Suite
from finsandbox.evals.scorers.base import (
    Judge,
    Scorer,
    clean_message,
    get_scorer,
    scorer_class,
    scorer_names,
    settings_errors,
)
from finsandbox.evals.seeds import rng_for


class _Errors:
    """Collects located problems and raises them together, so one run shows every mistake.

    A recipe included from its own file (`recipes: [recipes/faq.yaml]`) is reported against that
    file, with locations relative to the recipe.
    """

    def __init__(self, label: str, root: Node | None) -> None:
        self.label = label
        self.root = root
        self.includes: dict[int, tuple[str, Node | None]] = {}
        self.items: list[str] = []

    def locate(self, loc: Loc) -> tuple[str, int | None, Loc]:
        """(file label, line, location within that file) of a suite-level location."""
        label, root = self.label, self.root
        if len(loc) >= 2 and loc[0] == "recipes" and loc[1] in self.includes:
            label, root = self.includes[loc[1]]
            loc = loc[2:]
        return label, line_of(root, loc), loc

    def where(self, loc: Loc) -> str:
        label, line, _ = self.locate(loc)
        return f"{label}, line {line}" if line else label

    def add(self, loc: Loc, message: str) -> None:
        where = self.where(loc)
        _, _, inner = self.locate(loc)
        self.items.append(f"{where}, {format_loc(inner)}: {message}" if inner else f"{where}: {message}")

    def extend_raw(self, messages: list[str]) -> None:
        self.items += messages

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(join_errors(self.items))


# ---------------------------------------------------------------- cases


def load_cases(path: str | Path, *, label: str | None = None) -> list[Case]:
    """Cases from a JSONL file (one JSON object a line) or a YAML file (a list of cases); every bad
    row is reported with its line number."""
    path = Path(path)
    label = label or str(path)
    text = read_text(path, label)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_cases(text, label)
    errors: list[str] = []
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{label}, line {lineno}"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}, column {exc.colno}: invalid JSON: {exc.msg}")
            continue
        if not isinstance(data, dict):
            errors.append(f"{where}: expected a JSON object, got {type(data).__name__}")
            continue
        case_id = data.get("id")
        named = f"{where} (case '{case_id}')" if isinstance(case_id, str) and case_id else where
        try:
            case = Case.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = clean_loc(data, tuple(err["loc"]))
                errors.append(f"{named}, {format_loc(loc)}: {clean_message(err['msg'])}")
            continue
        if case.id in first_line:
            errors.append(f"{where}: duplicate case id '{case.id}' (first on line {first_line[case.id]})")
            continue
        first_line[case.id] = lineno
        case._source = where
        cases.append(case)
    if errors:
        raise ConfigError(join_errors(errors))
    return cases


def _yaml_cases(text: str, label: str) -> list[Case]:
    data, node = parse_yaml(text, label)
    if not isinstance(data, list):
        raise ConfigError(f"{label}: a case file must be a list of cases")
    errors = _Errors(label, node)
    cases: list[Case] = []
    first: dict[str, int] = {}
    for k, row in enumerate(data):
        try:
            case = Case.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                errors.add(clean_loc(data, (k, *err["loc"])), clean_message(err["msg"]))
            continue
        if case.id in first:
            errors.add((k, "id"), f"duplicate case id '{case.id}' (first at [{first[case.id]}])")
            continue
        first[case.id] = k
        case._source = errors.where((k,))
        cases.append(case)
    errors.raise_if_any()
    return cases


# ---------------------------------------------------------------- suites


def _in_scope(spec: ScorerSpec, case: Case) -> bool:
    return not spec.tags or bool(set(spec.tags) & set(case.tags))


def _probe(spec: ScorerSpec) -> Scorer | None:
    """A scorer instance to ask `problem(case)`; judge scorers are checked when bound instead."""
    cls = scorer_class(spec.name)
    if cls.requires_judge:
        return None
    return cls(spec.settings, threshold=spec.threshold)


def check_cases(recipe: Recipe, cases: list[Case]) -> None:
    """Every case a scorer covers carries what that scorer needs (expected.answer, .label, ...)."""
    errors: list[str] = []
    for spec in recipe.scorers:
        probe = _probe(spec)
        if probe is None:
            continue
        scoped = [c for c in cases if _in_scope(spec, c)]
        if spec.tags and not scoped:
            errors.append(
                f"recipe '{recipe.name}', scorer '{spec.name}': no case has any of the tags {spec.tags}"
            )
        for case in scoped:
            problem = probe.problem(case)
            if problem:
                errors.append(
                    f"{case.source or 'case'} (case '{case.id}'): {problem} in recipe '{recipe.name}'"
                )
    if errors:
        raise ConfigError(join_errors(errors))


def _check_components(suite: Suite, errors: _Errors) -> None:
    known_scorers, known_attacks = set(scorer_names()), set(attack_names())
    seen: dict[str, int] = {}
    for r, recipe in enumerate(suite.recipes):
        if recipe.name in seen:
            errors.add(
                ("recipes", r, "name"),
                f"duplicate recipe name '{recipe.name}' (also recipes[{seen[recipe.name]}])",
            )
        seen.setdefault(recipe.name, r)
        for i, spec in enumerate(recipe.scorers):
            loc: Loc = ("recipes", r, "scorers", i)
            if spec.name not in known_scorers:
                errors.add(
                    (*loc, "name"),
                    f"unknown scorer '{spec.name}' (known: {', '.join(sorted(known_scorers))})",
                )
                continue
            for sub, msg in settings_errors(scorer_class(spec.name).Settings, spec.settings):
                errors.add((*loc, "settings", *sub), msg)
        for i, aspec in enumerate(recipe.attacks):
            loc = ("recipes", r, "attacks", i)
            if aspec.name not in known_attacks:
                errors.add(
                    (*loc, "name"),
                    f"unknown attack '{aspec.name}' (known: {', '.join(sorted(known_attacks))})",
                )
                continue
            for sub, msg in settings_errors(attack_class(aspec.name).Settings, aspec.settings):
                errors.add((*loc, "settings", *sub), msg)


def _include_recipes(data: dict[str, Any], suite_path: Path, errors: _Errors) -> dict[int, Path]:
    """Replace `recipes` entries that are paths by the recipe file's content; returns their folders.

    A recipe's dataset and corpus paths are relative to the file that declares them.
    """
    recipes = data.get("recipes")
    folders: dict[int, Path] = {}
    if not isinstance(recipes, list):
        return folders
    for r, entry in enumerate(recipes):
        if not isinstance(entry, str):
            continue
        file = Path(entry)
        if not file.is_absolute():
            file = suite_path.parent / file
        if not file.is_file():
            errors.add(("recipes", r), f"recipe file not found: {entry}")
            continue
        recipe_data, recipe_node = parse_yaml(read_text(file, str(file)), str(file))
        if not isinstance(recipe_data, dict):
            errors.add(("recipes", r), f"{entry} must hold one recipe (a mapping)")
            continue
        recipes[r] = recipe_data
        errors.includes[r] = (str(file), recipe_node)
        folders[r] = file.parent
    errors.raise_if_any()
    return folders


def load_suite(path: str | Path, *, check_datasets: bool = True) -> Suite:
    """A suite from YAML, fully checked: fields, scorer and attack names and settings, dataset
    files and (unless `check_datasets` is false) every case in them."""
    path = Path(path)
    label = str(path)
    data, node = parse_yaml(read_text(path, label), label)
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a suite must be a mapping with name, recipes, ...")
    errors = _Errors(label, node)
    base_dirs = _include_recipes(data, path, errors)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            errors.add(clean_loc(data, tuple(err["loc"])), clean_message(err["msg"]))
        errors.raise_if_any()
        raise  # unreachable: a ValidationError always has errors
    suite._source = path
    for r, recipe in enumerate(suite.recipes):
        recipe._base_dir = base_dirs.get(r, path.parent)

    _check_components(suite, errors)
    for r, recipe in enumerate(suite.recipes):
        dataset = recipe.dataset_path
        if dataset is not None and not dataset.is_file():
            errors.add(("recipes", r, "dataset"), f"dataset file not found: {recipe.dataset}")
        corpus = recipe.corpus_path
        if corpus is not None and not corpus.exists():
            errors.add(
                ("recipes", r, "target", "retrieval", "corpus"),
                f"corpus not found: {recipe.target.retrieval.corpus}",
            )
        for k, case in enumerate(recipe.cases or []):
            case._source = errors.where(("recipes", r, "cases", k))
        if recipe.cases is not None:
            ids = [c.id for c in recipe.cases]
            for k, case_id in enumerate(ids):
                if case_id in ids[:k]:
                    errors.add(("recipes", r, "cases", k, "id"), f"duplicate case id '{case_id}'")
    errors.raise_if_any()

    if check_datasets:
        problems: list[str] = []
        for recipe in suite.recipes:
            try:
                check_cases(recipe, load_recipe_cases(recipe))
            except ConfigError as exc:
                problems.append(exc.message)
        if problems:
            raise ConfigError("\n".join(problems))
    return suite


def load_recipe_cases(recipe: Recipe) -> list[Case]:
    """The recipe's cases (inline or from its dataset), capped at max_cases; read once, then cached."""
    if recipe._loaded is None:
        if recipe.cases is not None:
            cases = list(recipe.cases)
        else:
            path = recipe.dataset_path
            assert path is not None
            cases = load_cases(path, label=str(path))
        recipe._loaded = cases
    cases = recipe._loaded
    return cases[: recipe.max_cases] if recipe.max_cases else list(cases)


# ---------------------------------------------------------------- binding


@dataclass
class BoundScorer:
    """A recipe's scorer ready to run: the spec (threshold, tags) and the configured instance."""

    spec: ScorerSpec
    scorer: Scorer
    # The principles this check evidences on an unattacked case (see `attribute`).
    principles: tuple[str, ...] = ()
    # Attack name -> the extra principles its variants evidence through this check.
    attack_principles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def principles_for(self, case: Case) -> list[str]:
        """The principles this check's verdict on `case` counts toward."""
        extra = self.attack_principles.get(str((case.attack or {}).get("name")), ())
        return list(dict.fromkeys([*self.principles, *extra]))

    def applies_to(self, case: Case) -> bool:
        """In the spec's tag scope and carrying what the scorer needs; attack variants whose
        expectations were replaced (a jailbreak expects a refusal) drop out of answer scorers here."""
        return _in_scope(self.spec, case) and self.scorer.applies_to(case)


@dataclass
class BoundRecipe:
    recipe: Recipe
    scorers: list[BoundScorer]
    attacks: list[Attack]

    def variants(self, case: Case, seed: int | str = 0) -> list[Case]:
        """Every attack's variants of one case, reproducible from the seed and the case id alone."""
        out: list[Case] = []
        for attack in self.attacks:
            rng: random.Random = rng_for(seed, self.recipe.name, attack.name, case.id)
            out += attack.variants(case, rng)
        return out


def attribute(
    recipe: Recipe, attacks: list[Attack] | None = None
) -> list[tuple[tuple[str, ...], dict[str, tuple[str, ...]]]]:
    """Per scorer of the recipe: the principles it evidences, and what attack variants add.

    A check evidences the principles its spec names; otherwise its scorer's defaults that the
    recipe claims. A check whose defaults the recipe does not claim evidences the recipe's
    principles that no other check evidences, so every claimed principle has its evidence and a
    failed escalation check never lowers transparency. A control test (no defaults) evidences
    nothing unless the spec says so. An attack's variants add the attack's principles where the
    recipe claims them (a typo attack tests robustness, a counterfactual one fairness).
    """
    claimed = list(recipe.principles)
    own: list[tuple[str, ...] | None] = []
    for spec in recipe.scorers:
        if spec.principles is not None:
            own.append(tuple(spec.principles))
            continue
        defaults = scorer_class(spec.name).principles
        if not claimed or not defaults:
            own.append(tuple(defaults))
            continue
        meet = tuple(p for p in defaults if p in claimed)
        own.append(meet or None)
    covered = {p for group in own if group for p in group}
    rest = tuple(p for p in claimed if p not in covered) or tuple(claimed)
    by_attack: dict[str, tuple[str, ...]] = {}
    for a in attacks or []:
        by_attack[a.name] = tuple(p for p in a.principles if not claimed or p in claimed)
    out = []
    for spec, group in zip(recipe.scorers, own, strict=True):
        extra = by_attack if scorer_class(spec.name).principles or spec.principles else {}
        out.append((rest if group is None else group, extra))
    return out


def bind_recipe(recipe: Recipe, *, judge: Judge | None = None) -> BoundRecipe:
    """Instantiate a recipe's scorers and attacks; a judge scorer without a judge is a ConfigError."""
    scorers: list[BoundScorer] = []
    for spec in recipe.scorers:
        cls = scorer_class(spec.name)
        if cls.requires_judge and judge is None:
            raise ConfigError(f"recipe '{recipe.name}' uses {spec.name} but no judge endpoint is configured")
        try:
            scorers.append(
                BoundScorer(spec, get_scorer(spec.name, spec.settings, threshold=spec.threshold, judge=judge))
            )
        except ConfigError as exc:
            raise ConfigError(f"recipe '{recipe.name}': {exc.message}") from None
    attacks: list[Attack] = []
    for aspec in recipe.attacks:
        try:
            attacks.append(get_attack(aspec.name, aspec.settings))
        except ConfigError as exc:
            raise ConfigError(f"recipe '{recipe.name}': {exc.message}") from None
    for bs, (own, extra) in zip(scorers, attribute(recipe, attacks), strict=True):
        bs.principles, bs.attack_principles = own, extra
    return BoundRecipe(recipe, scorers, attacks)
