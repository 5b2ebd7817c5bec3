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
    shot(page, "supervisor-cohort-dashboard")
    page.click("nav >> text=Ledger")
    page.wait_for_selector("#ledger-ok")
    shot(page, "ledger-verification")


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

    # A critical finding is open: accepting is refused with the reason, the choice kept.
    sup.select_option("#decision select[name=decision]", "accepted")
    sup.click("#decision button[type=submit]")
    assert "critical findings are open" in sup.inner_text("#decide-error")

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
    sup.fill("#decision input[name=note]", "Ready to exit.")
    sup.click("#decision button[type=submit]")
    sup.wait_for_selector("#review-status.accepted")
    shot(sup, "review-decided")
