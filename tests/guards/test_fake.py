"""The seeded generator: deterministic, and every value passes its real checksum."""

from __future__ import annotations

import re

from finsandbox.guards.pii.fake import FakePII, labelled_set
from finsandbox.guards.pii.hkid import hkid_check_digit
from finsandbox.guards.pii.iban import iban_mod97
from finsandbox.guards.pii.mainland_id import mainland_id_check_digit
from finsandbox.guards.pii.payment_card import luhn_valid


def test_same_seed_same_values_different_seed_different_values() -> None:
    assert [FakePII(3).hkid() for _ in range(1)] == [FakePII(3).hkid()]
    assert labelled_set(5, chats=20, docs_1k=2, docs_10k=0)["chat"][7].text == (
        labelled_set(5, chats=20, docs_1k=2, docs_10k=0)["chat"][7].text
    )
    assert FakePII(1).payment_card() != FakePII(2).payment_card()


def test_generated_values_pass_their_checksums() -> None:
    fake = FakePII(0)
    for _ in range(200):
        m = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(([0-9A])\)", fake.hkid())
        assert m and hkid_check_digit(m[1], m[2]) == m[3]
        assert luhn_valid(fake.payment_card().replace(" ", ""))
        assert iban_mod97(fake.iban().replace(" ", "")) == 1
        mid = fake.mainland_id()
        assert mainland_id_check_digit(mid[:17]) == mid[17]


def test_labelled_spans_point_at_the_planted_values() -> None:
    data = labelled_set(0, chats=50, docs_1k=3, docs_10k=1)
    assert len(data["10kb"][0].text) >= 10 * 1024
    for items in data.values():
        for item in items:
            for start, end, entity_type in item.spans:
                value = item.text[start:end]
                assert value and value == value.strip(), (entity_type, value)
