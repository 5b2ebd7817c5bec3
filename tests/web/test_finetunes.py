"""Fine-tunes in the browser: the workspace's page is reachable from its navigation, says when there
are none, and the base-versus-tuned button refuses two identical endpoints with the reason."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import OWNER_A, Site


def test_fine_tunes_page_and_the_compare_button_refuses_the_same_endpoint_twice(
    new_page: Any, site: Site
) -> None:
    page = new_page(OWNER_A)
    page.goto(f"/w/{site.ws_a}")
    page.click("a:has-text('Fine-tunes')")
    page.wait_for_selector("#no-finetunes")
    assert "finsandbox finetune run --workspace alpha-assist" in page.inner_text("main")
    page.select_option("#compare-form select[name=base]", "stub")
    page.select_option("#compare-form select[name=tuned]", "stub")
    page.click("#compare-form button[type=submit]")
    error = page.wait_for_selector("p.error[role=alert]")
    assert "base and tuned name the same endpoint" in error.inner_text()
