"""A supervisor in the browser: the cohort dashboard, a finding opened from a case in two clicks,
required actions, the participant's response, and the decision."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import OWNER_B, SUPERVISOR, Site, shot


def test_cohort_dashboard_and_ledger(new_page: Any, site: Site) -> None:
    page = new_page(SUPERVISOR)
    assert page.url.endswith("/supervision")
    page.wait_for_selector("text=Cohort 2026")
    page.wait_for_selector("text=Beta Bank assistant")
    # The heat map: a cell per principle, linking to the failing cases behind it.
    link = page.locator("#heat-map td.cell a").first
    href = link.get_attribute("href")
    assert href and f"/trials/{site.trial_b}?principle=" in href and "outcome=fail" in href
    shot(page, "supervisor-cohort-dashboard")
    link.click()
    page.wait_for_url(re.compile(r"outcome=fail"))
    assert page.locator("#results tbody tr td a").count() >= 1
    page.goto("/supervision")
    page.click("nav >> text=Ledger")
    page.wait_for_selector("#ledger-ok")
    shot(page, "ledger-verification")


def test_accepting_with_an_open_high_finding_is_refused_unless_overridden(new_page: Any, site: Site) -> None:
    """A high (not critical) finding blocks acceptance too; an override reason accepts and waives it."""
    sup = new_page(SUPERVISOR)
    sup.goto(f"/reviews/{site.review_b}")
    sup.select_option("form[action$='/findings'] select[name=severity]", "high")
    sup.fill("form[action$='/findings'] textarea[name=text]", "Complaints are not escalated.")
    sup.click("form[action$='/findings'] button[type=submit]")
    sup.wait_for_selector("#blockers")
    # A required action with no text and a past due date: both problems at once, nothing added.
    sup.fill("#action-form input[name=due_on]", "2020-01-01")
    sup.click("#action-form button[type=submit]")
    errors = sup.inner_text("#actions")
    assert "Say what must be done." in errors and "2020-01-01 is in the past" in errors
    assert sup.locator(".action[data-number]").count() == 0
    sup.select_option("#decision select[name=decision]", "accepted")
    sup.fill("#decision textarea[name=note]", "Good enough.")
    sup.check("#decision input[name=confirm]")
    sup.click("#decision button[type=submit]")
    assert "cannot be accepted" in sup.inner_text("#decide-error")
    assert sup.locator("#review-status").inner_text() != "accepted"
    sup.fill("#decision input[name=override_reason]", "Board accepted the residual risk.")
    sup.check("#decision input[name=confirm]")
    sup.click("#decision button[type=submit]")
    sup.wait_for_selector("#review-status.accepted")
    assert "Board accepted the residual risk." in sup.inner_text("#thread")
    assert sup.locator(".finding .badge.waived").count() >= 1


def test_finding_from_case_then_respond_and_decide(new_page: Any, site: Site) -> None:
    sup = new_page(SUPERVISOR)
    sup.goto(f"/trials/{site.trial_b}")
    # Click 1: a failing case; click 2: "Add finding" (evidence pre-linked).
    sup.select_option("select[name=outcome]", "fail")
    sup.click("#filters button")
    sup.wait_for_url(re.compile(r"outcome=fail"))
    sup.locator("#results tbody tr a").first.click()
    sup.wait_for_selector("#add-finding")
    shot(sup, "case-add-finding")
    sup.fill("#add-finding textarea[name=text]", "")
    sup.click("#add-finding button[type=submit]")  # empty text: refused beside the form
    sup.wait_for_selector("#add-finding .error")
    sup.select_option("#add-finding select[name=severity]", "critical")
    sup.fill("#add-finding textarea[name=text]", "The answer misstates the fee.")
    sup.click("#add-finding button[type=submit]")
    sup.wait_for_url(re.compile(r"/reviews/[0-9a-f]{32}"))
    finding = sup.wait_for_selector(".finding[data-number='1']")
    assert "The answer misstates the fee." in finding.inner_text()
    assert "case " in finding.inner_text() and "ledger entries" in finding.inner_text()
    review_url = sup.url.split("#")[0]

    # Nothing is preselected; an empty decision is refused with every problem at once.
    assert sup.input_value("#decision select[name=decision]") == ""
    sup.click("#decision button[type=submit]")
    assert "Choose a decision" in sup.inner_text("#decision")
    assert "Tick the box" in sup.inner_text("#decision")
    # A critical finding is open: accepting is refused with the reason, the choice kept.
    assert "#1" in sup.inner_text("#blockers")
    sup.select_option("#decision select[name=decision]", "accepted")
    sup.fill("#decision textarea[name=note]", "Looks fine.")
    sup.check("#decision input[name=confirm]")
    sup.click("#decision button[type=submit]")
    assert "high or critical severity are open (1)" in sup.inner_text("#decide-error")
    assert sup.input_value("#decision select[name=decision]") == "accepted"

    bank = new_page(OWNER_B)
    bank.goto(review_url)
    bank.fill(".finding[data-number='1'] input[name=text]", "Fixed the fee table; see trial 2.")
    bank.click(".finding[data-number='1'] button:has-text('Respond')")
    bank.wait_for_selector("text=Fixed the fee table; see trial 2.")
    shot(bank, "review-participant")

    sup.goto(review_url)
    sup.fill(".finding[data-number='1'] input[name=note]", "Checked the new fee table.")
    sup.click(".finding[data-number='1'] button:has-text('Mark resolved')")
    sup.wait_for_selector(".finding[data-number='1'] .badge.ok")
    sup.select_option("#decision select[name=decision]", "accepted")
    sup.fill("#decision textarea[name=note]", "Ready to exit.")
    sup.check("#decision input[name=confirm]")
    sup.click("#decision button[type=submit]")
    sup.wait_for_selector("#review-status.accepted")
    shot(sup, "review-decided")
    # The use case moved with the decision, and the supervisor concludes it from its page.
    sup.goto(f"/w/{site.ws_b}")
    assert sup.inner_text("#ws-state") == "accepted, ready to conclude"
    sup.select_option("#move-state select[name=to]", "concluded")
    sup.once("dialog", lambda dialog: dialog.accept())
    sup.click("#move-state button[type=submit]")
    assert "Say how the use case concluded" in sup.inner_text("#state")
    sup.fill("#move-state textarea[name=note]", "Exit: fit for a controlled launch.")
    sup.once("dialog", lambda dialog: dialog.accept())
    sup.click("#move-state button[type=submit]")
    sup.wait_for_selector("#ws-state.concluded")
