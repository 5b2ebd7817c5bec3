"""Each recognizer: real values found, near misses (bad checksums) ignored, context words raise the score."""

from __future__ import annotations

import copy
import re

import pytest

from finsandbox.guards.pii import RECOGNIZERS, detect
from finsandbox.guards.pii.fake import FakePII
from finsandbox.guards.pii.hkid import hkid_check_digit
from finsandbox.guards.pii.iban import iban_mod97
from finsandbox.guards.pii.mainland_id import mainland_id_check_digit
from finsandbox.guards.pii.payment_card import luhn_valid
from tests.guards.hk_pii_corpus import corpus


def found(text: str, entity_type: str, **kwargs: object) -> list[str]:
    return [text[s.start : s.end] for s in detect(text, **kwargs) if s.entity_type == entity_type]


def score_of(text: str, entity_type: str) -> float:
    spans = [s for s in RECOGNIZERS[entity_type].analyze(text) if s.entity_type == entity_type]
    assert spans, f"{entity_type} not found in {text!r}"
    return max(s.score for s in spans)


# -- checksums against published examples -----------------------------------------------------


def test_checksums_match_published_examples() -> None:
    assert hkid_check_digit("A", "123456") == "3"  # A123456(3), the HK government's sample
    assert mainland_id_check_digit("11010519491231002") == "X"  # GB 11643 sample
    assert iban_mod97("GB82WEST12345698765432") == 1  # ISO 13616 sample
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


# -- true positives, one per format ----------------------------------------------------------------

TRUE_POSITIVES = [
    ("HKID", "My HKID is A123456(3).", "A123456(3)"),
    ("HKID", "ID card: AB987654(3) thanks", "AB987654(3)"),
    ("HKID", "hkid A1234563 on file", "A1234563"),
    ("HKID", "my hkid is a123456(3) thanks", "a123456(3)"),  # typed in lower case
    ("HK_PHONE", "Call +852 9123 4567 today", "+852 9123 4567"),
    ("HK_PHONE", "office (852) 2345-6789", "(852) 2345-6789"),
    ("HK_PHONE", "my mobile 6123 4567", "6123 4567"),
    ("HK_PHONE", "phone: 91234567", "91234567"),
    ("HK_BANK_ACCOUNT", "pay into 004-123-456789-001 please", "004-123-456789-001"),
    ("HK_BANK_ACCOUNT", "HSBC account 123-456789-001", "123-456789-001"),
    ("HK_BANK_ACCOUNT", "BOCHK a/c 012-875-2-123456-7", "012-875-2-123456-7"),
    ("PAYMENT_CARD", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("PAYMENT_CARD", "Mastercard 5555555555554444", "5555555555554444"),
    ("PAYMENT_CARD", "amex 3782 822463 10005", "3782 822463 10005"),
    ("IBAN", "IBAN GB82 WEST 1234 5698 7654 32 for the wire", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN", "to DE89370400440532013000", "DE89370400440532013000"),
    ("SWIFT_BIC", "SWIFT code HSBCHKHHHKH", "HSBCHKHHHKH"),
    ("SWIFT_BIC", "BIC: DEUTDEFF500", "DEUTDEFF500"),
    ("EMAIL", "write to chan.tai.man@example.com.hk now", "chan.tai.man@example.com.hk"),
    ("PASSPORT", "HKSAR passport K12345678", "K12345678"),
    ("PASSPORT", "passport no. 123456789", "123456789"),
    ("MAINLAND_ID", "resident ID 11010519491231002X", "11010519491231002X"),
    ("DATE_OF_BIRTH", "date of birth: 12/05/1985", "12/05/1985"),
    ("DATE_OF_BIRTH", "I was born on 3 March 1990.", "3 March 1990"),
    ("DATE_OF_BIRTH", "DOB 1979-11-30", "1979-11-30"),
    ("PERSON", "Please help Mr. Chan Tai Man with his account", "Chan Tai Man"),
    ("PERSON", "Hi, my name is Peter Wong", "Peter Wong"),
]


@pytest.mark.parametrize(("entity_type", "text", "value"), TRUE_POSITIVES)
def test_true_positives(entity_type: str, text: str, value: str) -> None:
    assert found(text, entity_type) == [value]


STRUCTURED = ["HKID", "HK_PHONE", "HK_BANK_ACCOUNT", "PAYMENT_CARD", "IBAN", "SWIFT_BIC", "EMAIL", "PASSPORT"]


@pytest.mark.parametrize("entity_type", [*STRUCTURED, "MAINLAND_ID", "PERSON"])
def test_generated_values_are_found(entity_type: str) -> None:
    fake = FakePII(seed=7)
    context = {"PERSON": "customer name: Mr. ", "PASSPORT": "passport "}.get(entity_type, "")
    for _ in range(25):
        value = fake.value(entity_type)
        text = f"Note: {context}{value} is on file."
        assert value in found(text, entity_type), text


# -- near misses that must not match ---------------------------------------------------------------

NEAR_MISSES = [
    ("HKID", "My HKID is A123456(4)."),  # wrong check digit
    ("HKID", "my hkid is a123456(4)"),  # lower case, wrong check digit
    ("HKID", "ref A12345(3)"),  # too few digits
    ("PAYMENT_CARD", "card 4111 1111 1111 1112"),  # fails Luhn
    ("PAYMENT_CARD", "card 9111 1111 1111 1111"),  # Luhn-valid but no such issuer prefix... and no match
    ("IBAN", "IBAN GB83 WEST 1234 5698 7654 32"),  # wrong check digits
    ("IBAN", "IBAN GB82 WEST 1234 5698 7654"),  # wrong length for GB
    ("MAINLAND_ID", "ID 110105194912310021"),  # wrong check character
    ("MAINLAND_ID", "ID 11010519491331002X"),  # month 13
    ("HK_PHONE", "reference CMP-2024-0457"),  # part of a code
    ("HK_PHONE", "order 88213377 shipped"),  # bare 8 digits without context
    ("HK_PHONE", "card 4111 1111 1111 1112 declined"),  # groups of a (bad) card are not phones
    ("DATE_OF_BIRTH", "statement dated 12/05/2023"),  # a date without birth context
    ("DATE_OF_BIRTH", "born on 31/02/1990"),  # no 31 February
    ("SWIFT_BIC", "PLEASE CALLBACK TOMORROW"),  # shouted words are not BICs
    ("EMAIL", "not an email: chan@localhost"),
    ("PASSPORT", "invoice A1234567 attached"),  # generic code, no passport context
    ("HK_BANK_ACCOUNT", "the amount was 123456789012 units"),  # bare digits, no banking context
]


@pytest.mark.parametrize(("entity_type", "text"), NEAR_MISSES)
def test_near_misses_do_not_match(entity_type: str, text: str) -> None:
    assert found(text, entity_type) == []


@pytest.mark.parametrize("entity_type", ["HKID", "PAYMENT_CARD", "IBAN", "MAINLAND_ID"])
def test_generated_near_misses_never_match(entity_type: str) -> None:
    fake = FakePII(seed=11)
    for _ in range(50):
        value = fake.near_miss(entity_type)
        assert found(f"value {value} here", entity_type) == [], value


# -- context words change the score --------------------------------------------------------------

CONTEXT_PAIRS = [
    ("HKID", "code A123456(3) here", "HKID A123456(3) here"),
    ("HK_PHONE", "number 6123 4567 ok", "mobile 6123 4567 ok"),
    ("HK_BANK_ACCOUNT", "ref 123-456789-001 ok", "account 123-456789-001 ok"),
    ("PAYMENT_CARD", "number 4111 1111 1111 1111", "credit card 4111 1111 1111 1111"),
    ("IBAN", "use GB82 WEST 1234 5698 7654 32", "IBAN GB82 WEST 1234 5698 7654 32"),
    ("SWIFT_BIC", "code DEUTDEFF500", "SWIFT DEUTDEFF500"),
    ("EMAIL", "it is a.b@example.com", "email a.b@example.com"),
    ("PASSPORT", "no. K12345678", "passport K12345678"),
    ("MAINLAND_ID", "no. 11010519491231002X", "resident ID 11010519491231002X"),
    ("DATE_OF_BIRTH", "on 12/05/1985", "born 12/05/1985"),
    ("PERSON", "met Chan Tai Man", "customer name Chan Tai Man"),
]


@pytest.mark.parametrize(("entity_type", "plain", "with_context"), CONTEXT_PAIRS)
def test_context_words_raise_the_score(entity_type: str, plain: str, with_context: str) -> None:
    assert score_of(with_context, entity_type) > score_of(plain, entity_type)


def test_context_decides_whether_weak_candidates_are_reported() -> None:
    assert found("order 91234567 shipped", "HK_PHONE") == []
    assert found("call me on 91234567", "HK_PHONE") == ["91234567"]
    assert found("value date 12/05/1985", "DATE_OF_BIRTH") == []
    assert found("date of birth 12/05/1985", "DATE_OF_BIRTH") == ["12/05/1985"]


def test_overlaps_prefer_the_validated_entity() -> None:
    text = "card 4111 1111 1111 1111"
    assert [s.entity_type for s in detect(text)] == ["PAYMENT_CARD"]


def test_detect_filters_entity_types_and_rejects_unknown_ones() -> None:
    text = "HKID A123456(3), email a.b@example.com"
    assert [s.entity_type for s in detect(text, entities=["EMAIL"])] == ["EMAIL"]
    with pytest.raises(ValueError, match="unknown entity types"):
        detect(text, entities=["NOPE"])
    assert detect("") == []


def test_a_recognizer_skips_only_texts_none_of_its_patterns_can_match() -> None:
    """A recognizer that `requires` a character (a digit, an @) skips texts without one: on the
    labelled corpus it finds exactly what its full scans find, and its full scans find nothing in
    the same texts with that character taken out (so the declaration matches its patterns)."""
    texts = [item.text for split in ("tune", "heldout") for item in corpus(split, n=150)]
    texts += ["What is a credit card annual fee?", "call me on nine one two three", "", "８"]
    declared = {t: r for t, r in RECOGNIZERS.items() if r.requires}
    assert {"HKID", "HK_PHONE", "PAYMENT_CARD", "EMAIL"} <= set(declared)
    for entity_type, recognizer in declared.items():
        unfiltered = copy.copy(recognizer)
        unfiltered._requires = None
        required = re.compile(recognizer.requires or "")
        for text in texts:
            assert recognizer.analyze(text) == unfiltered.analyze(text), (entity_type, text)
            without = required.sub("x", text)
            assert unfiltered.analyze(without) == [], (entity_type, without)
