"""The admission rubric is data: the default loads, a broken file is named precisely, scores are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsandbox.errors import ConfigError, InvalidRequest
from finsandbox.programme.rubric import load_rubric, validate_scores


def test_the_default_rubric_scores_four_criteria_with_weights() -> None:
    loaded = load_rubric()
    r = loaded.rubric
    assert r.ids == ["innovation", "technical_sophistication", "industry_contribution", "fair_use"]
    assert sum(c.weight for c in r.criteria) == pytest.approx(1.0)
    assert (r.scale.min, r.scale.max, r.min_assessments) == (1, 5, 2)
    assert r.weighted(
        {"innovation": 5, "technical_sophistication": 1, "industry_contribution": 1, "fair_use": 1}
    ) == (pytest.approx(0.3 * 5 + 0.7 * 1))
    assert len(loaded.digest) == 64


def test_a_programme_rubric_in_the_data_directory_replaces_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finsandbox.config import get_settings

    (tmp_path / "rubric.yaml").write_text(
        "name: strict\nmin_assessments: 3\ncriteria:\n"
        "  - {id: value, name: Value, description: worth it, weight: 2}\n"
        "  - {id: safety, name: Safety, description: safe, weight: 1}\n"
    )
    monkeypatch.setenv("FINSANDBOX_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        r = load_rubric().rubric
        assert r.name == "strict" and r.min_assessments == 3
        assert r.weighted({"value": 5, "safety": 2}) == pytest.approx(4.0)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_broken_rubric_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(
        "name: broken\ncriteria:\n"
        "  - {id: a, name: A, description: x, weight: 1}\n"
        "  - {id: a, name: A again, description: y, weight: 0}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_rubric(path)
    message = exc.value.message
    assert f"{path}, line 4, criteria[1].weight: Input should be greater than 0" in message
    path.write_text(
        "name: broken\ncriteria:\n"
        "  - {id: a, name: A, description: x, weight: 1}\n"
        "  - {id: a, name: B, description: y, weight: 1}\n"
    )
    with pytest.raises(ConfigError, match="criterion 'a' is defined twice"):
        load_rubric(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: rubric not found"):
        load_rubric(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("scores", "param", "message"),
    [
        ({"innovation": 4}, "scores.technical_sophistication", "score Technical sophistication"),
        ({"novelty": 3}, "scores.novelty", "unknown criterion 'novelty'"),
        ({"innovation": 6}, "scores.innovation", "Innovation must be from 1 to 5, not 6"),
        ({"innovation": 3.5}, "scores.innovation", "Innovation must be a whole number from 1 to 5"),
        ({"innovation": "high"}, "scores.innovation", "Innovation must be a whole number from 1 to 5"),
    ],
)
def test_scores_are_checked_criterion_by_criterion(scores: dict, param: str, message: str) -> None:
    full = {"innovation": 3, "technical_sophistication": 3, "industry_contribution": 3, "fair_use": 3}
    if "novelty" in scores or "technical_sophistication" not in str(param):
        scores = {**full, **scores}
    else:
        scores = {"innovation": 4}
    with pytest.raises(InvalidRequest, match=message) as exc:
        validate_scores(load_rubric().rubric, scores)
    assert exc.value.param == param


def test_form_values_are_accepted_as_text() -> None:
    scores = {"innovation": "4", "technical_sophistication": "3", "industry_contribution": 2, "fair_use": "5"}
    assert validate_scores(load_rubric().rubric, scores)["innovation"] == 4
