"""A bank evaluates its own use case from the browser: a CSV of id,input,expected becomes a suite
(every form problem shown at once), the suite is launched on the workspace's endpoint, results arrive
and the scorecard exists as soon as the trial completes; viewing it writes nothing to the ledger."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import OWNER_A, Site, shot
from tests.web.test_datasets import _upload

CASES = b"id,input,expected\nq1,Say hello,hello\nq2,What is 2+2?,4\nq3,Name a colour,blue\n"


def _ledger_size() -> int:
    from sqlalchemy import func, select

    from finsandbox.store import session_scope
    from finsandbox.store.models import LedgerEntry

    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def test_build_launch_and_score_an_own_suite(new_page: Any, site: Site) -> None:
    page = new_page(OWNER_A)
    page.goto(f"/w/{site.ws_a}/datasets")
    _upload(page, "quick answers", "qa.csv", "text/csv", CASES)
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{32}$"))
    page.goto(f"/w/{site.ws_a}/trials")
    page.fill("#suite-form input[name=name]", "quick")
    page.click("#suite-form button[type=submit]")
    text = page.inner_text("#build-suite")
    assert "Choose the dataset" in text and "at least one scorer" in text and "Choose the principles" in text
    option = page.locator("#suite-form select[name=dataset] option", has_text="quick answers")
    page.select_option("#suite-form select[name=dataset]", option.get_attribute("value"))
    page.select_option("#suite-form select[name=scorers]", ["normalised_match"])
    page.check("#suite-form input[name=principles][value=reliability_accuracy]")
    page.fill("#suite-form textarea[name=system_prompt]", "Answer in one word.")
    shot(page, "suite-builder")
    page.click("#suite-form button[type=submit]")
    page.wait_for_selector("#own-suites")
    assert "quick" in page.inner_text("#own-suites")
    assert page.input_value("#launch-trial select[name=suite]") == "own:quick@v1"
    page.click("#launch-trial button[type=submit]")
    page.wait_for_url(re.compile(r"/trials/[0-9a-f]{32}$"))
    page.wait_for_selector("#trial-status:has-text('completed')", timeout=90_000)
    page.wait_for_selector("#results tbody tr td a")
    assert page.locator("#results tbody tr").count() == 3
    assert "reliability and accuracy" in page.inner_text("#results").lower()
    trial_url = page.url
    page.goto(trial_url + "/scorecard")
    for _ in range(20):  # built by the runner right after the last case
        if page.locator("#overall-grade").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    before = _ledger_size()
    page.reload()
    assert page.locator("#overall-grade").count() == 1
    assert _ledger_size() == before  # viewing a scorecard writes nothing
    shot(page, "own-suite-scorecard")


def test_a_trial_is_cancelled_from_its_page(new_page: Any, site: Site) -> None:
    """A trial that has not finished shows a Cancel button; cancelling keeps its page and says so."""
    from finsandbox.evals.trials import TrialConfig, create_trial
    from finsandbox.store import session_scope

    with session_scope(write=True) as s:  # recorded, not started: it waits as a queued trial would
        trial = create_trial(
            s,
            TrialConfig(workspace=site.ws_a, endpoint="stub", suites=["customer_service"], max_cases=1),
            actor="test",
        )
        trial_id = trial.id
    page = new_page(OWNER_A)
    page.goto(f"/trials/{trial_id}")
    assert "No results yet" in page.inner_text("#results-block")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-trial button")
    page.wait_for_selector("#trial-status:has-text('cancelled')")
    assert page.locator("#cancel-trial").count() == 0
