"""Applications in the browser: a bank applies (a missing field is shown beside it, with what was typed
kept), two supervisors score it on the rubric, one admits it and the bank opens the new workspace; a
decline shows its reasons to the bank; another bank is told the application does not exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import OWNER_A, OWNER_B, PASSWORD, SUPERVISOR, Site, shot

SUPERVISOR_2 = "sue@regulator.example.com"
PARTNER = "dev@gamma-tech.example.com"


@pytest.fixture(scope="module")
def people(site: Site) -> None:
    """A second supervisor and a tech partner with one user, beside the site's programme."""
    from sqlalchemy import select

    from finsandbox.access import create_institution, create_user
    from finsandbox.store import session_scope
    from finsandbox.store.models import Institution

    with session_scope(write=True) as s:
        regulator = s.scalars(select(Institution).where(Institution.name == "Regulator")).one()
        gamma = create_institution(s, name="Gamma Tech", kind="tech_partner", actor="test")
        for email, inst in ((SUPERVISOR_2, regulator), (PARTNER, gamma)):
            create_user(
                s,
                email=email,
                display_name=email.split("@")[0].title(),
                institution=inst,
                password=PASSWORD,
                actor="test",
            )


def _apply(page: Any, title: str, *, partner: bool = False) -> str:
    """Fill in and send the apply form; returns the new application's URL."""
    page.goto("/applications")
    page.click("#apply-link")
    page.wait_for_selector("#apply")
    page.select_option("select[name=theme]", "customer_service")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "An assistant that answers card-fee questions.")
    page.select_option("select[name=approach]", "rag")
    page.fill("textarea[name=data_used]", "Published fee schedules and product terms.")
    page.fill("textarea[name=expected_benefit]", "Shorter waits for customers.")
    page.select_option("select[name=risk_materiality]", "medium")
    if partner:
        page.select_option("select[name=tech_partner]", "Gamma Tech")
        page.fill("textarea[name=members]", PARTNER)
    page.click("#apply button[type=submit]")
    page.wait_for_url(re.compile(r"/applications/[0-9a-f]{32}$"))
    return page.url


def test_apply_assess_admit(new_page: Any, site: Site, people: None) -> None:
    bank = new_page(OWNER_A)
    bank.click("nav >> text=Applications")
    bank.click("#apply-link")
    bank.wait_for_selector("#apply")
    # First try without the expected benefit: refused beside that field, everything typed kept.
    bank.select_option("select[name=theme]", "customer_service")
    bank.fill("input[name=title]", "Card fee assistant")
    bank.fill("textarea[name=description]", "An assistant that answers card-fee questions.")
    bank.select_option("select[name=approach]", "rag")
    bank.fill("textarea[name=data_used]", "Published fee schedules and product terms.")
    bank.select_option("select[name=risk_materiality]", "medium")
    bank.select_option("select[name=tech_partner]", "Gamma Tech")
    bank.fill("textarea[name=members]", PARTNER)
    bank.click("#apply button[type=submit]")
    error = bank.wait_for_selector("#error-expected_benefit")
    assert "benefit" in error.inner_text()
    assert bank.input_value("input[name=title]") == "Card fee assistant"
    assert bank.input_value("textarea[name=data_used]") == "Published fee schedules and product terms."
    assert bank.input_value("select[name=approach]") == "rag"
    assert bank.input_value("select[name=tech_partner]") == "Gamma Tech"
    assert bank.input_value("textarea[name=members]") == PARTNER
    bank.fill("textarea[name=expected_benefit]", "Fewer calls to the contact centre.")
    shot(bank, "application-apply")
    bank.click("#apply button[type=submit]")
    bank.wait_for_url(re.compile(r"/applications/[0-9a-f]{32}$"))
    app_url = bank.url
    assert bank.inner_text("#app-state") == "proposed"
    assert "Gamma Tech" in bank.inner_text("main")
    bank.goto("/applications")
    assert "proposed" in bank.inner_text("#applications")

    # Another bank is told it does not exist.
    other = new_page(OWNER_B)
    assert other.goto(app_url).status == 404

    # Two supervisors score it; the first cannot admit without a reason while one assessment is missing.
    scores = {
        SUPERVISOR: {"innovation": "4", "technical_sophistication": "3", "industry_contribution": "4"},
        SUPERVISOR_2: {"innovation": "2", "technical_sophistication": "4", "industry_contribution": "3"},
    }
    for email, chosen in scores.items():
        sup = new_page(email)
        sup.click("nav >> text=Applications")
        sup.click("#applications a:has-text('Card fee assistant')")
        sup.wait_for_selector("#assess")
        for criterion, value in chosen.items():
            sup.select_option(f"#assess select[name=score_{criterion}]", value)
        sup.fill("#assess textarea[name=comment]", f"Scored by {email}.")
        sup.click("#assess button[type=submit]")  # fair use left unscored: refused beside it
        sup.wait_for_selector("#assess .field-error")
        assert "Fair use" in sup.inner_text("#assess .field-error")
        assert sup.input_value("#assess textarea[name=comment]") == f"Scored by {email}."
        sup.select_option("#assess select[name=score_fair_use]", "4")
        sup.click("#assess button[type=submit]")
        sup.wait_for_selector("#assess button:has-text('Update my scores')")
        if email == SUPERVISOR:
            sup.click("#admit button[type=submit]")
            assert "assessments" in sup.inner_text("#admit .field-error")
    assert sup.inner_text("#app-state") == "under assessment"
    aggregate = sup.inner_text("#aggregate")
    assert "2 of 2" in aggregate and SUPERVISOR in aggregate and SUPERVISOR_2 in aggregate
    assert sup.inner_text("#aggregate tr[data-criterion=innovation] .mean") == "3.00"
    shot(sup, "application-assessment")
    with sup.expect_navigation():
        sup.click("#admit button[type=submit]")
    sup.wait_for_selector("#app-state.admitted")
    ws_url = sup.get_attribute("#workspace-link a", "href")
    assert ws_url and ws_url.startswith("/w/")

    # The bank opens its new workspace, with the team as members.
    bank.goto(app_url)
    assert bank.inner_text("#app-state") == "admitted"
    bank.click("#workspace-link a")
    bank.wait_for_url(re.compile(re.escape(ws_url) + "$"))
    main = bank.inner_text("main")
    assert "Card fee assistant" in main and PARTNER in main


def test_decline_shows_reasons_and_withdraw(new_page: Any, site: Site, people: None) -> None:
    bank = new_page(OWNER_A)
    app_url = _apply(bank, "Mortgage letter drafter")
    sup = new_page(SUPERVISOR)
    sup.goto(app_url)
    sup.click("#decline button[type=submit]")  # no reasons: refused beside the field
    assert "why" in sup.inner_text("#decline .field-error")
    sup.fill("#decline textarea[name=reasons]", "The data used is not described well enough.")
    sup.click("#decline button[type=submit]")
    sup.wait_for_selector("#decline-reasons")
    bank.goto(app_url)
    assert bank.inner_text("#app-state") == "declined"
    assert "not described well enough" in bank.inner_text("#decline-reasons")
    assert bank.locator("#withdraw").count() == 0

    withdrawn_url = _apply(bank, "Branch queue predictor")
    bank.once("dialog", lambda dialog: dialog.accept())
    bank.click("#withdraw button[type=submit]")
    bank.wait_for_selector("#app-state.withdrawn")
    bank.goto("/applications")
    rows = bank.inner_text("#applications")
    assert "declined" in rows and "withdrawn" in rows
    assert new_page(OWNER_B).goto(withdrawn_url).status == 404
