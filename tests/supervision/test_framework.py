"""The framework as data: the default loads, another file loads without code, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals.model import Suite
from finsandbox.supervision.framework import DEFAULT_FRAMEWORK, coverage, load_framework

PRINCIPLES = [
    "governance_accountability",
    "fairness",
    "transparency_disclosure",
    "data_privacy",
    "reliability_accuracy",
    "robustness_security",
    "human_oversight",
    "consumer_protection",
]

FEAT = """\
name: mas-feat
version: "2018"
title: MAS FEAT principles
grades: [{grade: Pass, min: 0.9}, {grade: Fail, min: 0}]
principles:
  - {id: fairness, name: Fairness, description: Justifiable outcomes., evidence: [parity tests]}
  - {id: ethics, name: Ethics, description: Aligned with firm ethics., evidence: [review]}
  - {id: accountability, name: Accountability, description: Owned decisions., evidence: [sign-off]}
  - {id: transparency, name: Transparency, description: Disclosed use., evidence: [disclosure tests]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "framework.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_framework_holds_the_regulators_principles() -> None:
    fw = load_framework(DEFAULT_FRAMEWORK).framework
    assert fw.ids == PRINCIPLES
    assert all(p.description and p.evidence for p in fw.principles)
    assert [b.grade for b in fw.grades] == list("ABCDE")


def test_another_framework_loads_without_code_changes(tmp_path: Path) -> None:
    fw = load_framework(_write(tmp_path, FEAT)).framework
    assert fw.name == "mas-feat" and fw.ids == ["fairness", "ethics", "accountability", "transparency"]
    assert fw.grade(0.95) == "Pass" and fw.grade(0.5) == "Fail"


def test_a_programme_framework_in_the_data_directory_replaces_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finsandbox.config import get_settings

    monkeypatch.setenv("FINSANDBOX_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert load_framework().name == "hkma-genai"
        _write(tmp_path, FEAT)
        assert load_framework().name == "mas-feat"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_duplicate_principle_is_named_with_its_line(tmp_path: Path) -> None:
    text = FEAT + "  - {id: ethics, name: Again, description: Twice., evidence: [x]}\n"
    with pytest.raises(ConfigError, match=r"line 10, principles\[4\]\.id: duplicate principle 'ethics'"):
        load_framework(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(" description: Aligned with firm ethics.,", ""),
            r"principles\[1\]\.description: this field is required",
        ),
        (
            lambda t: t.split("principles:")[0] + "principles: []\n",
            r"principles: List should have at least 1 item",
        ),
        (
            lambda t: t.replace("{grade: Fail, min: 0}", "{grade: Fail, min: 0.2}"),
            "the worst grade must have min 0",
        ),
        (
            lambda t: t.replace("min: 0.9", "min: 0.1").replace("min: 0}", "min: 0.5}"),
            "must strictly decrease",
        ),
        (lambda t: t.replace("id: ethics", "id: Ethics!"), r"principles\[1\]\.id: String should match"),
    ],
)
def test_an_invalid_framework_says_where_and_what(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        load_framework(_write(tmp_path, edit(FEAT)))


def test_a_missing_framework_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: framework file not found"):
        load_framework(tmp_path / "nope.yaml")


def _suite(theme: str, recipes: list[tuple[str, list[str]]]) -> Suite:
    return Suite.model_validate(
        {
            "name": f"s-{theme}",
            "theme": theme,
            "recipes": [
                {"name": name, "principles": ps, "scorers": [{"name": "contains"}], "cases": []}
                for name, ps in recipes
            ],
        }
    )


def test_coverage_names_principles_no_recipe_of_a_theme_evidences() -> None:
    fw = load_framework(DEFAULT_FRAMEWORK).framework
    full = _suite("customer_service", [("all", PRINCIPLES)])
    partial = _suite("anti_fraud", [("acc", ["reliability_accuracy"]), ("odd", ["explainability"])])
    cov = coverage(fw, [full, partial])
    assert cov.missing["customer_service"] == []
    assert "reliability_accuracy" not in cov.missing["anti_fraud"]
    # governance is evidenced by the programme (roles, sign-off, ledger), never required of recipes
    assert "fairness" in cov.missing["anti_fraud"] and len(cov.missing["anti_fraud"]) == 6
    assert "governance_accountability" not in cov.missing["anti_fraud"]
    assert cov.unknown == ["s-anti_fraud/odd declares 'explainability'"]
    assert not cov.ok
    assert "theme anti_fraud: no recipe evidences fairness, transparency_disclosure" in " ".join(
        cov.messages()
    )
    # naming a theme with no recipes at all reports every principle for it
    assert len(coverage(fw, [full], themes=["risk_management"]).missing["risk_management"]) == 7
    assert coverage(fw, [full]).ok


def test_the_reference_use_cases_declare_only_known_principles() -> None:
    from finsandbox import usecases
    from finsandbox.evals.loader import load_suite

    fw = load_framework(DEFAULT_FRAMEWORK).framework
    suites = [load_suite(usecases.suite_path(t), check_datasets=False) for t in usecases.THEMES]
    assert coverage(fw, suites).unknown == []
    assert coverage(fw, suites).ok, coverage(fw, suites).messages()
