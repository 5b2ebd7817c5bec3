"""Policy loading: errors name the file, the line, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsandbox.errors import ConfigError
from finsandbox.guards import default_policy, load_policy, parse_policy

GOOD = """\
version: 1
customer_facing: true
limits:
  max_input_chars: 5000
input:
  - guard: pii
    settings:
      actions: {HKID: block}
  - guard: injection
output:
  - guard: pii
  - guard: disclosure
    settings:
      mode: block
"""


def error_for(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, source="policy.yaml")
    return info.value.message


def test_a_valid_policy_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    policy = load_policy(path)
    assert [s.guard for s in policy.input] == ["pii", "injection"]
    assert policy.customer_facing and policy.limits.max_input_chars == 5000


def test_default_policy_ships_with_the_package() -> None:
    policy = default_policy()
    assert [s.guard for s in policy.input] == ["pii", "injection"]
    assert policy.input[0].settings.get("ner") is True  # person names are on by default
    assert policy.with_ner(False).input[0].parsed_settings.ner is False  # type: ignore[attr-defined]


def variant(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


LOAD_ERRORS = [
    (
        variant("actions: {HKID: block}", "colour: red"),
        "policy.yaml:8: input.0.settings.colour: unknown field",
    ),
    (
        variant("guard: injection", "guard: injektion"),
        "policy.yaml:9: input.1.guard: unknown guard 'injektion'",
    ),
    (
        variant("{HKID: block}", "{HKID: burn}"),
        "policy.yaml:8: input.0.settings.actions.HKID: Input should be",
    ),
    (
        variant("{HKID: block}", "{HKIDD: block}"),
        "policy.yaml:8: input.0.settings.actions: unknown entity type",
    ),
    (variant("5000", "-5"), "policy.yaml:4: limits.max_input_chars: Input should be greater"),
    (
        variant("guard: injection", "guard: disclosure"),
        "policy.yaml:9: input.1.guard: guard 'disclosure' checks output",
    ),
    (variant("mode: block", "mode: loud"), "policy.yaml:14: output.1.settings.mode: Input should be"),
    (GOOD + "surprise: 1\n", "policy.yaml:15: surprise: unknown field"),
    ("input: [\n", "policy.yaml:2: invalid YAML"),
    ("", "policy.yaml: policy is empty"),
    ("- just a list\n", "policy.yaml:1: policy must be a mapping"),
    (
        "input:\n  - guard: pii\n    settings: {ner: true, ner: false}\n",
        "policy.yaml:3: key 'ner' appears twice",
    ),
]


@pytest.mark.parametrize(("text", "expected"), LOAD_ERRORS)
def test_errors_name_file_line_field_and_problem(text: str, expected: str) -> None:
    assert error_for(text).startswith(expected)


def test_a_bad_regex_in_settings_is_a_load_error() -> None:
    text = (
        "input:\n  - guard: banned_topics\n    settings:\n      topics:\n"
        "        - name: x\n          patterns: ['(']\n"
    )
    message = error_for(text)
    assert message.startswith("policy.yaml:6: input.0.settings.topics.0.patterns: pattern '(' is not a valid")


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"input: \xff\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_policy(bad)
