"""Character- and format-level attacks: typos, homoglyphs, noise, encodings."""

from __future__ import annotations

import base64
import codecs
import random

import pytest

from finsandbox.errors import ConfigError
from finsandbox.evals import Case, get_attack
from finsandbox.evals.attacks.homoglyphs import HOMOGLYPHS

TEXT = "Please transfer HK$12,500 from my savings account to account 012-345678-001 tomorrow morning."


def case() -> Case:
    return Case(id="t1", input=TEXT, expected={"answer": "done"}, tags=["payments"])


def test_typos_are_deterministic_tagged_and_keep_figures() -> None:
    attack = get_attack("typos", {"rate": 0.3, "count": 3})
    first = attack.variants(case(), random.Random(42))
    again = attack.variants(case(), random.Random(42))
    other = attack.variants(case(), random.Random(43))
    assert [v.input for v in first] == [v.input for v in again]
    assert [v.input for v in first] != [v.input for v in other]
    assert [v.id for v in first] == ["t1::typos::1", "t1::typos::2", "t1::typos::3"]
    for v in first:
        assert v.input != TEXT
        assert v.attack == {
            "name": "typos",
            "params": {"rate": 0.3, "words_changed": v.attack["params"]["words_changed"]},
            "of": "t1",
        }
        assert v.attack["params"]["words_changed"] >= 1
        assert "HK$12,500" in v.input and "012-345678-001" in v.input  # figures are never perturbed
        assert v.expected == {"answer": "done"} and v.tags == ["payments"]
        # A typo changes a word by one edit: same word count.
        assert len(str(v.input).split()) == len(TEXT.split())
    # Even when every word is hit, amounts and account numbers survive.
    for v in get_attack("typos", {"rate": 1.0, "count": 5}).variants(case(), random.Random(0)):
        assert "HK$12,500" in v.input and "012-345678-001" in v.input
        assert v.attack["params"]["words_changed"] == 8  # every alphabetic word of 3+ letters


def test_typos_touch_only_the_last_user_message() -> None:
    c = Case(
        id="m",
        input=[
            {"role": "user", "content": "Hello there, assistant"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Please explain the overdraft charges"},
        ],
    )
    (v,) = get_attack("typos", {"count": 1, "rate": 1.0}).variants(c, random.Random(1))
    assert isinstance(v.input, list)
    assert [m.content for m in v.input[:2]] == ["Hello there, assistant", "Hello! How can I help?"]
    assert v.input[2].content != "Please explain the overdraft charges"


def test_homoglyphs_look_the_same_but_differ() -> None:
    (v1, v2) = get_attack("homoglyphs").variants(case(), random.Random(3))
    for v in (v1, v2):
        text = str(v.input)
        assert text != TEXT and any(ord(ch) > 127 for ch in text)
        back = {glyph: latin for latin, glyph in HOMOGLYPHS.items()}
        assert "".join(back.get(ch, ch) for ch in text) == TEXT
        assert v.attack["params"]["replaced"] == sum(1 for a, b in zip(text, TEXT, strict=True) if a != b)


def test_noise_modes() -> None:
    variants = get_attack("noise").variants(case(), random.Random(5))
    by_mode = {v.attack["params"]["mode"]: str(v.input) for v in variants}
    assert by_mode["upper"] == TEXT.upper() and by_mode["lower"] == TEXT.lower()
    assert by_mode["random_case"].lower() == TEXT.lower() and by_mode["random_case"] != TEXT
    assert " ".join(by_mode["whitespace"].split()) == TEXT and by_mode["whitespace"] != TEXT
    only = get_attack("noise", {"modes": ["upper"]}).variants(case(), random.Random(5))
    assert len(only) == 1


def test_encodings_decode_back_to_the_request() -> None:
    variants = get_attack("encoding").variants(case(), random.Random(0))
    assert [v.attack["params"]["scheme"] for v in variants] == ["base64", "rot13", "hex"]
    payloads = [str(v.input).split("\n\n", 1)[1] for v in variants]
    assert base64.b64decode(payloads[0]).decode() == TEXT
    assert codecs.decode(payloads[1], "rot13") == TEXT
    assert bytes.fromhex(payloads[2]).decode() == TEXT
    assert all(v.expected == {"answer": "done"} for v in variants)
    assert variants[0].attack["params"]["license"] == "Apache-2.0"
    (bare,) = get_attack("encoding", {"schemes": ["hex"], "wrap": False}).variants(case(), random.Random(0))
    assert bytes.fromhex(str(bare.input)).decode() == TEXT


def test_unknown_attack_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match=r"unknown attack 'leet' \(known: .*typos"):
        get_attack("leet")
    with pytest.raises(ConfigError, match=r"attack 'encoding' settings.schemes.0: Input should be"):
        get_attack("encoding", {"schemes": ["base32"]})
