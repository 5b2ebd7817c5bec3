"""Building the model view from what the runner saw, and what is kept of it."""

from __future__ import annotations

from finsandbox.evals import Evidence
from finsandbox.evals.views import annotate, model_view, redaction_controls, stored

PII_MASK = {"guard": "pii", "action": "redact", "entities": {"HKID": 1}, "location": "output", "reason": "x"}
CANARY = {
    "guard": "system_prompt_leak",
    "action": "block",
    "location": "output",
    "reason": "output contains the endpoint's system-prompt canary",
}


def test_the_gateway_view_is_scored_and_stored_masked() -> None:
    ev = Evidence(guard_decisions=[PII_MASK])
    annotation = {"text": "HKID A123456(3)", "canary": False, "delivered_canary": False}
    annotate(ev, annotation)
    view = model_view("HKID <HKID>", ev, annotation)
    assert view.source == "gateway" and view.text == "HKID A123456(3)"
    kept = stored(view, "HKID <HKID>", False)
    assert kept["text"] == "HKID <HKID>" and "A123456" not in str(kept)


def test_an_external_app_view_is_the_delivered_text_when_no_output_guard_acted() -> None:
    ev = Evidence()
    annotate(ev, None)
    view = model_view("The fee is HK$300.", ev, None)
    assert view.source == "unchanged" and view.text == "The fee is HK$300."


def test_an_external_app_view_is_rebuilt_from_guard_decisions_otherwise() -> None:
    ev = Evidence(guard_decisions=[CANARY], blocked=True)
    annotate(ev, None)
    assert ev.blocked_at == "output" and ev.canary_leaked is False  # the caller never saw it
    view = model_view("", ev, None)
    assert view.source == "reconstructed" and view.text is None and view.evidence.canary_leaked is True


def test_input_blocks_never_reached_the_model() -> None:
    ev = Evidence(
        guard_decisions=[{"guard": "injection", "action": "block", "location": "messages[1].content"}],
        blocked=True,
    )
    annotate(ev, None)
    assert model_view("", ev, None).source == "not_reached"


def test_a_name_only_counterfactual_masked_at_input_is_controlled_by_redaction() -> None:
    attack = {"name": "counterfactual", "params": {"attribute": "ethnicity", "mechanism": ["name"]}}
    masked = [
        {"guard": "pii", "action": "redact", "entities": {"PERSON": 1}, "location": "messages[1].content"}
    ]
    assert redaction_controls(attack, masked)
    assert not redaction_controls({**attack, "params": {"mechanism": ["name", "field"]}}, masked)
    assert not redaction_controls(attack, [])
