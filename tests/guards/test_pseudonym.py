"""Reversible pseudonymisation: placeholders for the model, the caller's own values back in the reply."""

from __future__ import annotations

import pytest

from finsandbox.errors import ConfigError
from finsandbox.guards import GuardContext, Pipeline, parse_policy
from finsandbox.guards.base import ConversationState
from finsandbox.guards.policy import shipped_policy_text
from finsandbox.guards.pseudonym import Restorer, restore

HKID = "A123456(3)"
PHONE = "+852 9123 4567"


def vault_with(*values: tuple[str, str]) -> ConversationState:
    vault = ConversationState()
    for entity_type, value in values:
        vault.placeholder(entity_type, value, keep=True)
    return vault


def test_restore_puts_back_only_the_callers_values() -> None:
    vault = vault_with(("HKID", HKID), ("HK_PHONE", PHONE))
    model_made = vault.placeholder("EMAIL", "leaked@example.com")  # from the model's output: not kept
    text = f"HKID <HKID_1>, phone <HK_PHONE_1>, email {model_made}, unknown <HKID_9>, x<y>z"
    assert restore(text, vault) == f"HKID {HKID}, phone {PHONE}, email <EMAIL_1>, unknown <HKID_9>, x<y>z"


def test_the_same_value_written_twice_keeps_its_first_form() -> None:
    vault = vault_with(("HKID", HKID), ("HKID", "a1234563"))
    assert restore("<HKID_1> <HKID_2>", vault) == f"{HKID} <HKID_2>"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_stream_restores_placeholders_split_across_chunks(size: int) -> None:
    vault = vault_with(("HKID", HKID), ("HK_BANK_ACCOUNT", "004-123-456789-001"))
    reply = 'JSON: {"hkid": "<HKID_1>", "account": "<HK_BANK_ACCOUNT_1>", "cmp": "a < b", "end": "<HKID_1>'
    restorer = Restorer(vault)
    out = "".join(restorer.feed(reply[i : i + size]) for i in range(0, len(reply), size)) + restorer.finish()
    assert out == restore(reply, vault)
    assert HKID in out and "004-123-456789-001" in out and "<HKID_1>" not in out


def test_stream_never_holds_back_more_than_a_possible_placeholder() -> None:
    restorer = Restorer(vault_with(("HKID", HKID)))
    assert restorer.feed("the value is <HK") == "the value is "
    assert restorer.feed("ID_1> ok") == f"{HKID} ok"
    assert restorer.feed("a <b and <") == "a <b and "
    assert restorer.finish() == "<"


def pipeline(mode: str) -> Pipeline:
    text = shipped_policy_text("default").replace("pii: redact", f"pii: {mode}")
    return Pipeline.from_policy(parse_policy(text, "test"))


def test_pseudonymise_policy_gives_the_model_placeholders_and_the_caller_values() -> None:
    pipe = pipeline("pseudonymise")
    assert pipe.policy.pii == "pseudonymise"
    context = GuardContext()
    checked = pipe.check_messages([{"role": "user", "content": f"My HKID is {HKID}, call {PHONE}."}], context)
    assert checked.messages is not None
    sent = checked.messages[0]["content"]
    assert sent == "My HKID is <HKID_1>, call <HK_PHONE_1>."
    output = pipe.check_output('{"hkid": "<HKID_1>", "mobile": "<HK_PHONE_1>"}', context)
    assert output.text == '{"hkid": "<HKID_1>", "mobile": "<HK_PHONE_1>"}'  # what the ledger keeps
    assert restore(output.text, context.conversation) == f'{{"hkid": "{HKID}", "mobile": "{PHONE}"}}'


def test_personal_data_the_model_invents_stays_masked() -> None:
    pipe = pipeline("pseudonymise")
    context = GuardContext()
    pipe.check_messages([{"role": "user", "content": f"My HKID is {HKID}."}], context)
    output = pipe.check_output("Another customer's HKID is B987654(0).", context)
    assert output.text is not None and "B987654" not in restore(output.text, context.conversation)


def test_shipped_policies_parse_and_unknown_names_are_refused() -> None:
    default = parse_policy(shipped_policy_text("default"), "default")
    kyc = parse_policy(shipped_policy_text("pseudonymise"), "pseudonymise")
    assert default.pii == "redact" and kyc.pii == "pseudonymise"
    with pytest.raises(ConfigError, match="no shipped guard policy 'nope'"):
        shipped_policy_text("nope")
    with pytest.raises(ConfigError, match="pii"):
        parse_policy(shipped_policy_text("default").replace("pii: redact", "pii: reversible"), "bad")
