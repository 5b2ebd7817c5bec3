"""The PII guard's actions: placeholders that stay consistent, masks, blocks, and NER for names."""

from __future__ import annotations

from finsandbox.guards import Action, GuardContext
from finsandbox.guards.pii.guard import PIIGuard


def test_placeholders_are_typed_and_consistent_across_messages() -> None:
    guard = PIIGuard()
    context = GuardContext()
    first = guard.check("HKID A123456(3), email a.b@example.com", context)
    second = guard.check("Is A1234563 linked to c.d@example.com?", context)
    assert first.action is Action.REDACT
    assert first.text == "HKID <HKID_1>, email <EMAIL_1>"
    assert second.text == "Is <HKID_1> linked to <EMAIL_2>?"


def test_mask_keeps_shape_and_block_stops_the_text() -> None:
    masked = PIIGuard({"default_action": "mask"}).check("card 4111 1111 1111 1111", GuardContext())
    assert masked.text == "card **** **** **** ****"
    blocked = PIIGuard({"actions": {"HKID": "block"}}).check("my HKID A123456(3)", GuardContext())
    assert blocked.action is Action.BLOCK
    assert "A123456" not in blocked.reason


def test_allowed_entity_types_pass_through() -> None:
    decision = PIIGuard({"actions": {"EMAIL": "allow"}}).check("email a.b@example.com", GuardContext())
    assert decision.action is Action.ALLOW
    assert decision.text == "email a.b@example.com"


def test_public_summary_never_contains_values() -> None:
    decision = PIIGuard().check("HKID A123456(3) and 4111 1111 1111 1111", GuardContext())
    public = decision.public()
    assert public["entities"] == {"HKID": 1, "PAYMENT_CARD": 1}
    assert "A123456" not in str(public) and "4111" not in str(public)


def test_hong_kong_names_are_found_by_rules_without_the_model() -> None:
    text = "Yesterday Chan Tai Man visited the Mong Kok branch with Mary Wong; CHAN TAI MAN signed."
    decision = PIIGuard({"ner": False}).check(text, GuardContext())
    assert (
        decision.text
        == "Yesterday <PERSON_1> visited the Mong Kok branch with <PERSON_2>; <PERSON_1> signed."
    )


def test_ner_finds_bare_names_the_rules_miss() -> None:
    text = "Yesterday Sarah Jenkins visited the Mong Kok branch with Tom Hardy."
    without = PIIGuard({"ner": False}).check(text, GuardContext())
    with_ner = PIIGuard({"ner": True}).check(text, GuardContext())
    assert without.action is Action.ALLOW
    assert "Sarah Jenkins" not in with_ner.text and "Tom Hardy" not in with_ner.text
    assert "<PERSON_1>" in with_ner.text and "<PERSON_2>" in with_ner.text
    assert "Mong Kok" in with_ner.text
