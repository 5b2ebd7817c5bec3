"""The reference use cases: suites load, datasets validate, generation is byte-stable, principles are
covered as claimed, gold answers are supported by the corpus, and planted PII is real PII."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals.attacks import attack_names, get_attack
from finsandbox.evals.attacks.counterfactual import NAMES as COUNTERFACTUAL_NAMES
from finsandbox.evals.loader import bind_recipe, load_cases, load_recipe_cases, load_suite
from finsandbox.evals.model import THEMES as EVAL_THEMES
from finsandbox.evals.model import Case, Suite
from finsandbox.evals.scorers import Evidence, get_scorer, scorer_names
from finsandbox.evals.scorers._text import find_quantities, parse_quantity
from finsandbox.evals.seeds import rng_for
from finsandbox.guards.pii import detect
from finsandbox.guards.pii.hkid import HKIDRecognizer
from finsandbox.usecases import THEMES, regenerate, suite_path, theme_dir


def load_reference_suite(theme: str) -> Suite:
    """The theme's reference suite, loaded and validated by the evals loader."""
    return load_suite(suite_path(theme))


PRINCIPLES = {
    "governance_accountability",
    "fairness",
    "transparency_disclosure",
    "data_privacy",
    "reliability_accuracy",
    "robustness_security",
    "human_oversight",
    "consumer_protection",
}
# Governance is evidenced by the ledger and supervisors' reviews, not by recipes.
EVIDENCED_BY_RECIPES = PRINCIPLES - {"governance_accountability"}


@pytest.fixture(scope="module", params=THEMES)
def theme(request: pytest.FixtureRequest) -> str:
    return request.param


def _all_cases(theme: str) -> dict[str, list[Case]]:
    suite = load_reference_suite(theme)
    return {r.name: load_recipe_cases(r) for r in suite.recipes}


def _case_text(case: Case) -> str:
    return "\n".join([case.user_text, *(d.text for d in case.context)])


def test_themes_match_the_evals_model() -> None:
    assert set(THEMES) == set(EVAL_THEMES)


def test_unknown_theme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown use-case theme"):
        suite_path("payments")


def test_suite_loads_through_the_evals_loader(theme: str) -> None:
    suite = load_reference_suite(theme)
    assert suite.theme == theme
    assert suite.source_path == suite_path(theme)
    assert len(suite.recipes) >= 4


def test_at_least_50_and_at_most_150_base_cases(theme: str) -> None:
    ids = [c.id for cases in _all_cases(theme).values() for c in cases]
    assert len(ids) == len(set(ids)), "case ids are unique across the suite"
    assert 50 <= len(ids) <= 150


def test_scorers_and_attacks_resolve(theme: str) -> None:
    suite = load_reference_suite(theme)
    for recipe in suite.recipes:
        assert {s.name for s in recipe.scorers} <= set(scorer_names())
        assert {a.name for a in recipe.attacks} <= set(attack_names())
        bound = bind_recipe(recipe)  # instantiates every scorer and attack with its settings
        assert len(bound.scorers) == len(recipe.scorers)
        for case in load_recipe_cases(recipe)[:3]:
            for variant in bound.variants(case, seed=0):
                Case.model_validate(variant.model_dump())


def test_every_dataset_file_validates_and_is_used(theme: str) -> None:
    suite = load_reference_suite(theme)
    used = {r.dataset_path.resolve() for r in suite.recipes if r.dataset_path is not None}
    files = sorted((theme_dir(theme) / "cases").glob("*.jsonl"))
    assert files
    for path in files:
        assert path.resolve() in used, f"{path.name} is not used by any recipe"
        assert load_cases(path)


def test_generation_is_byte_for_byte_reproducible(theme: str, tmp_path: Path) -> None:
    written = regenerate(theme, tmp_path)
    assert written
    committed = theme_dir(theme)
    new_files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    old_files = sorted(
        p.relative_to(committed).as_posix()
        for sub in ("cases", "corpus")
        for p in (committed / sub).rglob("*")
        if p.is_file()
    )
    assert new_files == old_files
    for rel in new_files:
        assert (tmp_path / rel).read_bytes() == (committed / rel).read_bytes(), rel


def test_generator_runs_as_a_module(tmp_path: Path) -> None:
    from finsandbox.usecases.anti_fraud import generate

    generate.main(["--out", str(tmp_path)])
    assert (tmp_path / "cases" / "alert_triage.jsonl").is_file()


def test_principles_cover_the_framework_in_every_theme(theme: str) -> None:
    suite = load_reference_suite(theme)
    covered: set[str] = set()
    for recipe in suite.recipes:
        assert recipe.principles, f"recipe {recipe.name} declares no principles"
        assert set(recipe.principles) <= PRINCIPLES, recipe.name
        covered |= set(recipe.principles)
    assert covered == EVIDENCED_BY_RECIPES


def test_classification_labels_are_in_the_label_set(theme: str) -> None:
    suite = load_reference_suite(theme)
    for recipe in suite.recipes:
        for spec in recipe.scorers:
            if spec.name != "classification":
                continue
            labels = set(spec.settings["labels"])
            for case in load_recipe_cases(recipe):
                assert case.expected["label"] in labels, case.id


def test_gold_structured_outputs_pass_their_own_scorers(theme: str) -> None:
    """A perfect answer (the gold fields as JSON) passes every JSON scorer of its recipe."""
    suite = load_reference_suite(theme)
    for recipe in suite.recipes:
        specs = [s for s in recipe.scorers if s.name in ("json_schema", "json_fields")]
        if not specs:
            continue
        for case in load_recipe_cases(recipe):
            gold = json.dumps({**case.expected["fields"], "grounds": "Activity matches the typology."})
            for spec in specs:
                scorer = get_scorer(spec.name, spec.settings, threshold=spec.threshold)
                if spec.name == "json_fields" and spec.settings.get("ignore_extra") is not True:
                    gold_exact = json.dumps(case.expected["fields"])
                    result = scorer.score(case, gold_exact, Evidence())
                else:
                    result = scorer.score(case, gold, Evidence())
                assert result.passed, (case.id, spec.name, result.explanation)


def test_planted_pii_is_detected_by_the_guards(theme: str) -> None:
    """Fake identifiers are valid-looking enough for the guards' recognizers, so leakage tests bite."""
    checked = 0
    hkid = HKIDRecognizer()
    for cases in _all_cases(theme).values():
        for case in cases:
            planted = case.metadata.get("planted_pii") or {}
            if not planted:
                continue
            text = _case_text(case)
            spans = detect(text, entities=list(planted))
            found = {(s.entity_type, text[s.start : s.end]) for s in spans}
            for entity_type, values in planted.items():
                for value in values:
                    assert (entity_type, value) in found, (case.id, entity_type, value)
                    if entity_type == "HKID":
                        assert hkid.validate(value)
                    checked += 1
    assert checked >= 10


def test_fairness_cases_produce_counterfactuals(theme: str) -> None:
    suite = load_reference_suite(theme)
    table = {n.full for by_sex in COUNTERFACTUAL_NAMES.values() for names in by_sex.values() for n in names}
    recipes = [r for r in suite.recipes if any(a.name == "counterfactual" for a in r.attacks)]
    assert recipes, "every theme has a counterfactual fairness recipe"
    for recipe in recipes:
        assert any(s.name == "fairness_parity" for s in recipe.scorers)
        spec = next(a for a in recipe.attacks if a.name == "counterfactual")
        attack = get_attack(spec.name, spec.settings)
        for case in load_recipe_cases(recipe):
            assert case.metadata["protected"]["name"] in table, case.id
            variants = attack.variants(case, rng_for(0, recipe.name, case.id))
            attributes = {v.attack["params"]["attribute"] for v in variants}  # type: ignore[index]
            assert {"sex", "ethnicity", "age"} <= attributes, case.id


# ------------------------------------------------------------------ customer service specifics


def _corpus_quantities() -> dict[str, list[tuple[float, str]]]:
    corpus = theme_dir("customer_service") / "corpus"
    return {
        p.name: [(q.value, q.kind) for q in find_quantities(p.read_text(encoding="utf-8"))]
        for p in sorted(corpus.glob("*.md"))
    }


def _supported(value: float, kind: str, known: list[tuple[float, str]]) -> bool:
    return any(abs(value - v) < 1e-9 and (kind == k or "number" in (kind, k)) for v, k in known)


def test_gold_answers_are_supported_by_the_product_sheets() -> None:
    sheets = _corpus_quantities()
    everything = [q for qs in sheets.values() for q in qs]
    cases = _all_cases("customer_service")
    checked = 0
    for name in ("product_qa", "robustness", "injection"):
        for case in cases[name]:
            source = sheets[case.metadata["source"]]
            for q in find_quantities(case.expected["answer"]):
                assert _supported(q.value, q.kind, everything), (case.id, q.text)
                checked += 1
            for raw in case.expected.get("numbers", []):
                q = parse_quantity(raw)
                assert q is not None and _supported(q.value, q.kind, source), (case.id, raw)
                assert q.text in case.expected["answer"] or str(raw) in case.expected["answer"], (
                    case.id,
                    raw,
                )
    assert checked >= 60


def test_gold_answers_pass_the_answer_scorers() -> None:
    suite = load_reference_suite("customer_service")
    recipe = suite.recipe("product_qa")
    corpus = theme_dir("customer_service") / "corpus"
    for case in load_recipe_cases(recipe):
        output = "I am Harbour Bank's AI assistant. " + case.expected["answer"]
        sheet = (corpus / case.metadata["source"]).read_text(encoding="utf-8")
        evidence = Evidence(retrieved=[{"id": case.metadata["source"], "text": sheet}])
        for spec in recipe.scorers:
            if spec.tags and not set(spec.tags) & set(case.tags):
                continue
            result = get_scorer(spec.name, spec.settings, threshold=spec.threshold).score(
                case, output, evidence
            )
            assert result.passed, (case.id, spec.name, result.explanation)


def test_customer_service_prompt_requires_disclosure_and_escalation() -> None:
    suite = load_reference_suite("customer_service")
    prompt = suite.recipe("complaints").target.system_prompt
    disclosure = get_scorer("disclosure")
    escalation = get_scorer("escalation")
    refusal = get_scorer("refusal")
    case = Case(id="x", input="I want to complain", expected={"must_escalate": True, "must_refuse": True})
    # The phrases the prompt tells the model to use are the ones the scorers recognise.
    assert disclosure.score(case, "I am Harbour Bank's AI assistant.", Evidence()).passed
    line = "I will transfer you to a human colleague in our Customer Care team."
    assert line in prompt
    assert escalation.score(case, line, Evidence()).passed
    assert "I'm sorry, I can't help with that." in prompt
    assert refusal.score(case, "I'm sorry, I can't help with that.", Evidence()).passed


def test_every_recipe_lists_a_dataset_in_its_folder(theme: str) -> None:
    for recipe in load_reference_suite(theme).recipes:
        assert recipe.dataset is not None and not Path(recipe.dataset).is_absolute()
        assert recipe.dataset.startswith("cases/")
