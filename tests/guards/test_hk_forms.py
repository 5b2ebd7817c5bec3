"""Hong Kong PII in the forms banks print, including every form issue 12 found leaking."""

from __future__ import annotations

import pytest

from finsandbox.guards.pii import detect
from finsandbox.guards.pii.hk_bank_account import HK_BANK_CODES

from .hk_pii_corpus import corpus


def found(text: str, entity_type: str | None = None, *, ner: bool = False) -> list[str]:
    return [
        text[s.start : s.end]
        for s in detect(text, ner=ner)
        if entity_type is None or s.entity_type == entity_type
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Please call CHAN Tai Man tomorrow.", "CHAN Tai Man"),
        ("Applicant: CHAN TAI MAN", "CHAN TAI MAN"),
        ("Signed by Chan Tai-man and witnessed.", "Chan Tai-man"),
        ("Peter CHAN Tai Man opened the account.", "Peter CHAN Tai Man"),
        ("Thanks, Kelvin Lau will follow up.", "Kelvin Lau"),
        ("Beneficiary WONG, Ka Yan (joint)", "WONG, Ka Yan"),
        ("客戶陳大文先生今日到訪。", "陳大文"),
        ("The customer 黃嘉欣 visited the branch.", "黃嘉欣"),
        ("Yesterday Chan Tai Man visited the branch.", "Chan Tai Man"),
    ],
)
def test_hong_kong_name_forms_without_the_model(text: str, value: str) -> None:
    assert found(text, "PERSON") == [value]


def test_names_in_csv_rows_and_tables_are_found_by_their_column() -> None:
    csv = 'id,Customer Name,mobile\n1,"Lee, Mei Ling",91234567\n2,Sarah Jenkins,61234567\n'
    assert found(csv, "PERSON") == ["Lee, Mei Ling", "Sarah Jenkins"]
    assert found(csv, "HK_PHONE") == ["91234567", "61234567"]  # the column header is the cue
    table = "| Name | Branch |\n|---|---|\n| Oliver Brennan | 512 |\n"
    assert found(table, "PERSON") == ["Oliver Brennan"]
    assert found(table) == ["Oliver Brennan"]  # the branch code stays


def test_places_and_banks_that_look_like_names_are_left_alone() -> None:
    text = "Visit our Wan Chai, Tsim Sha Tsui or Ho Man Tin branches, or Hang Seng Bank at Lee Gardens."
    assert found(text, "PERSON", ner=True) == []


def test_spacy_acronyms_are_not_names_but_caps_names_are() -> None:
    assert found("Please ask HSBC and the HKMA.", "PERSON", ner=True) == []
    assert found("ATTN: WONG KA YAN", "PERSON", ner=True) == ["WONG KA YAN"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I was called from +852 9123 4567.", "+852 9123 4567"),
        ("I was called from 852 9123 4567.", "852 9123 4567"),
        ("mobile 85291234567", "85291234567"),
        ("office (852) 2345 6789", "(852) 2345 6789"),
        ("office (852)23456789", "(852)23456789"),
        ("Someone called from 91234567 asking for my PIN", "91234567"),
        ("The OTP was sent to 61234567 at 10:42.", "61234567"),
        ("Tel. 2345 6789", "2345 6789"),
    ],
)
def test_phone_forms(text: str, value: str) -> None:
    assert found(text, "HK_PHONE") == [value]


@pytest.mark.parametrize(
    "text",
    [
        "Please contact us regarding reference 12345678 at your convenience.",
        "Our ticket no. is 4567 8901.",
        "Order 88213377 shipped; call if anything is missing.",
        "Amount HKD 23456789 credited.",
    ],
)
def test_numbers_claimed_by_another_word_are_not_phones(text: str) -> None:
    assert found(text, "HK_PHONE") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("pay into a/c 01287521234567 please", "01287521234567"),  # 14 unbroken digits
        ("deposit to 004 123 456789 001", "004 123 456789 001"),
        ("transfer to 387-123456789012", "387-123456789012"),
        ("FPS to account 238-123-4567890", "238-123-4567890"),  # a less common bank code
        ("account 206-826931-211", "206-826931-211"),
    ],
)
def test_bank_account_forms(text: str, value: str) -> None:
    assert found(text, "HK_BANK_ACCOUNT") == [value]


def test_every_bank_code_is_recognised_with_separators() -> None:
    for code in sorted(HK_BANK_CODES):
        value = f"{code}-512-345678-901"
        assert found(f"credit to {value}", "HK_BANK_ACCOUNT") == [value], code


def test_timestamps_and_references_are_not_accounts() -> None:
    assert found("Transaction 20240311093012 posted to your account", "HK_BANK_ACCOUNT") == []
    assert found("reference 012875212345678 for the account opening", "HK_BANK_ACCOUNT") == []


@pytest.mark.parametrize(
    "value", ["K12345678", "H12345678", "E12345678", "EA1234567", "G12345678", "S1234567D", "PA1234567"]
)
def test_passport_forms(value: str) -> None:
    assert found(f"Passport no. of the applicant: {value}", "PASSPORT") == [value]


def test_swift_cue_far_back_in_the_sentence_still_counts() -> None:
    text = (
        "The SWIFT code of the beneficiary's bank in Frankfurt, as confirmed by our treasury team "
        "last week after two reminders, is DEUTDEFF500."
    )
    assert found(text, "SWIFT_BIC") == ["DEUTDEFF500"]
    # ...but not across a sentence: here the cue belongs to another sentence.
    assert found("Send the SWIFT confirmation. PLEASE CALLBACK TOMORROW", "SWIFT_BIC") == []


def test_tuning_split_is_fully_caught_and_no_harmless_number_is_touched() -> None:
    """The tuning split is what the recognisers were developed on: it must stay fully caught.

    The held-out split is measured (not asserted) by bench/guards.py.
    """
    leaked, touched = [], []
    for item in corpus("tune", 120):
        spans = detect(item.text)
        for start, end, kind in item.spans:
            if kind != "PERSON" and not any(s.start < end and s.end > start for s in spans):
                leaked.append((kind, item.text[start:end]))
        for start, end, kind in item.harmless:
            if any(s.start < end and s.end > start for s in spans):
                touched.append((kind, item.text[start:end]))
    assert leaked == []
    assert touched == []


def test_corpus_splits_differ_in_seed_templates_and_names() -> None:
    tune, heldout = corpus("tune", 50), corpus("heldout", 50)
    assert {i.text for i in tune}.isdisjoint(i.text for i in heldout)
    with pytest.raises(ValueError, match="unknown split"):
        corpus("test")


@pytest.mark.parametrize(
    "value", ["GB82 WEST 1234 5698 7654 32", "Peter CHAN Tai Man", "+852 9123 4567", "004 123 456789 001"]
)
def test_a_streamed_value_longer_than_the_look_ahead_never_leaks(value: str) -> None:
    from finsandbox.guards import GuardContext, Pipeline, default_policy

    pipeline = Pipeline.from_policy(default_policy())
    guard = pipeline.stream_guard(GuardContext())
    reply = f"Please send the funds to IBAN and account holder {value} as discussed, thank you very much."
    words = reply.split(" ")
    sent = "".join(guard.feed(w if i == 0 else " " + w) for i, w in enumerate(words)) + guard.finish()
    assert all(
        part not in sent for part in value.split(" ") if any(ch.isdigit() for ch in part) or part.isupper()
    )
