"""From suite references to the ordered list of work items a trial runs.

A suite reference is a reference use case's theme (`customer_service`) or a path to a suite
YAML file. The plan is deterministic for a given seed, so a resumed trial finds exactly the
items it had planned, and a digest of every file the suites read proves they did not change.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from finsandbox.errors import ConfigError
from finsandbox.evals.model import Case, Recipe, Suite


@dataclass(frozen=True)
class LoadedSuite:
    ref: str
    path: Path
    suite: Suite
    digest: str


@dataclass(frozen=True)
class WorkItem:
    """One case to run: `key` is unique within a trial (suite/recipe/case id)."""

    key: str
    suite: str
    recipe: str
    case: Case


def resolve_suite_path(ref: str) -> Path:
    from finsandbox import usecases

    if ref in usecases.THEMES:
        return usecases.suite_path(ref)
    path = Path(ref)
    if not path.is_file():
        raise ConfigError(
            f"suite {ref!r} is neither a reference use case ({', '.join(usecases.THEMES)}) nor a suite file"
        )
    return path


def load_reference_suite(theme: str) -> Suite:
    """A theme's reference suite from `finsandbox.usecases`, loaded and validated."""
    from finsandbox import usecases
    from finsandbox.evals.loader import load_suite

    return load_suite(usecases.suite_path(theme))


def _files_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(set(paths)):
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                h.update(str(f.relative_to(p)).encode())
                h.update(f.read_bytes())
        elif p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def bind_recipe(recipe: Recipe, judge: object | None = None):  # type: ignore[no-untyped-def]
    from finsandbox.evals.loader import bind_recipe as bind

    return bind(recipe, judge=judge)  # type: ignore[arg-type]


def load(ref: str) -> LoadedSuite:
    from finsandbox.evals.loader import load_suite

    path = resolve_suite_path(ref).resolve()
    suite = load_suite(path)
    files = [path]
    for recipe in suite.recipes:
        if recipe.dataset_path is not None:
            files.append(recipe.dataset_path)
        if recipe.corpus_path is not None:
            files.append(recipe.corpus_path)
    return LoadedSuite(ref=ref, path=path, suite=suite, digest=_files_digest(files))


class _PlanningJudge:
    """Planning binds recipes only for their attacks; no judge is ever called here."""

    identity = "none (planning)"

    def __call__(self, messages: list[dict[str, str]]) -> str:
        raise RuntimeError("planning never calls a judge")


def recipe_cases(recipe: Recipe) -> list[Case]:
    from finsandbox.evals.loader import load_recipe_cases

    return load_recipe_cases(recipe)


def plan(
    suites: list[LoadedSuite],
    *,
    recipes: list[str] | None,
    max_cases: int | None,
    seed: int,
    max_variants: int | None = None,
) -> list[WorkItem]:
    """Base cases (at most `max_cases` per recipe, in dataset order) followed by their attack variants
    (at most `max_variants` per base case, a seeded sample, for quick runs such as the demo)."""
    wanted = set(recipes or [])
    known = {r.name for s in suites for r in s.suite.recipes}
    unknown = wanted - known
    if unknown:
        raise ConfigError(
            f"unknown recipe(s) {', '.join(sorted(unknown))}; the suites have {', '.join(sorted(known))}"
        )
    items: list[WorkItem] = []
    seen: set[str] = set()
    for loaded in suites:
        suite = loaded.suite
        for recipe in suite.recipes:
            if wanted and recipe.name not in wanted:
                continue
            base = recipe_cases(recipe)
            limit = min(x for x in (max_cases, recipe.max_cases, len(base)) if x is not None)
            base = base[:limit]
            cases = list(base)
            bound = bind_recipe(recipe, judge=_PlanningJudge())
            for case in base:
                variants = bound.variants(case, seed)
                if max_variants is not None and len(variants) > max_variants:
                    rng = random.Random(f"{seed}/{suite.name}/{recipe.name}/{case.id}")
                    keep = sorted(rng.sample(range(len(variants)), max_variants))
                    variants = [variants[i] for i in keep]
                cases.extend(variants)
            for case in cases:
                key = f"{suite.name}/{recipe.name}/{case.id}"
                if key in seen:
                    raise ConfigError(f"case id {case.id!r} appears twice in recipe {recipe.name!r}")
                seen.add(key)
                items.append(WorkItem(key=key, suite=suite.name, recipe=recipe.name, case=case))
    return items
