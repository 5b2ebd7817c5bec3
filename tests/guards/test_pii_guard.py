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


def test_the_name_model_loads_without_torch_and_torch_still_imports_after() -> None:
    """With the fine-tuning extra installed, loading spaCy's NER must not pay for importing torch
    (seconds of every server start), and code that does need torch must still get it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from finsandbox.guards.pii import ner\n"
        "found = ner.entities('Please call Mary Wong tomorrow.')\n"
        "assert found and found[0][2] == 'PERSON', found\n"
        "print('torch loaded by NER:', 'torch' in sys.modules)\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('torch') is not None:\n"
        "    import torch\n"
        "    print('torch imports after:', torch.zeros(2).sum().item() == 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch loaded by NER: False" in out.stdout
    if "torch imports after" in out.stdout:
        assert "torch imports after: True" in out.stdout
