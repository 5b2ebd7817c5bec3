"""The isolation table for UI routes: (who, URL, expected status). A participant of another bank is told
the thing does not exist (404), never that it is forbidden; other roles get 403 where they may not look."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import OPERATOR, OWNER_A, OWNER_B, SUPERVISOR, VIEWER_A, Site

# {ws_a}, {ws_b}, {trial_b}, {review_b}, {key_b}, {result_b} are filled from the site.
TABLE: list[tuple[str, str, str, int]] = [
    # participant of bank A against bank B's things: 404 everywhere
    (OWNER_A, "GET", "/w/{ws_b}", 404),
    (OWNER_A, "GET", "/w/{ws_b}/policy", 404),
    (OWNER_A, "GET", "/w/{ws_b}/playground", 404),
    (OWNER_A, "GET", "/w/{ws_b}/trials", 404),
    (OWNER_A, "GET", "/w/{ws_b}/report", 404),
    (OWNER_A, "GET", "/trials/{trial_b}", 404),
    (OWNER_A, "GET", "/trials/{trial_b}/progress", 404),
    (OWNER_A, "GET", "/trials/{trial_b}/scorecard", 404),
    (OWNER_A, "GET", "/trials/{trial_b}/cases/{result_b}", 404),
    (OWNER_A, "GET", "/reviews/{review_b}", 404),
    (OWNER_A, "GET", "/reviews?workspace={ws_b}", 404),
    (OWNER_A, "POST", "/w/{ws_b}/keys", 404),
    (OWNER_A, "POST", "/w/{ws_b}/keys/{key_b}/revoke", 404),
    (OWNER_A, "POST", "/w/{ws_b}/policy", 404),
    (OWNER_A, "POST", "/w/{ws_b}/trials", 404),
    (OWNER_A, "POST", "/reviews/{review_b}/respond", 404),
    (OWNER_A, "POST", "/w/{ws_b}/state", 404),
    # a key of bank B addressed through bank A's own workspace is not found there either
    (OWNER_A, "POST", "/w/{ws_a}/keys/{key_b}/revoke", 404),
    # participant: own things yes, supervisor and operator pages no
    (OWNER_A, "GET", "/w/{ws_a}", 200),
    (OWNER_A, "GET", "/w/{ws_a}/trials", 200),
    (OWNER_A, "GET", "/supervision", 403),
    (OWNER_A, "GET", "/insights", 403),
    (OWNER_A, "GET", "/ledger", 403),
    (OWNER_A, "GET", "/operations", 403),
    (OWNER_A, "GET", "/applications", 200),
    (OWNER_A, "GET", "/applications/new", 200),
    # a viewer member sees the workspace but may not change it
    (VIEWER_A, "GET", "/w/{ws_a}", 200),
    (VIEWER_A, "POST", "/w/{ws_a}/keys", 403),
    (VIEWER_A, "POST", "/w/{ws_a}/policy", 403),
    (VIEWER_A, "POST", "/w/{ws_a}/trials", 403),
    # bank B's own owner
    (OWNER_B, "GET", "/trials/{trial_b}", 200),
    (OWNER_B, "GET", "/reviews/{review_b}", 200),
    (OWNER_B, "POST", "/reviews/{review_b}/decide", 403),
    (OWNER_B, "POST", "/w/{ws_b}/state", 403),
    (OWNER_B, "POST", "/trials/{trial_b}/review", 403),
    # supervisor: sees every workspace, may not act as a member
    (SUPERVISOR, "GET", "/w/{ws_b}", 200),
    (SUPERVISOR, "GET", "/trials/{trial_b}/cases/{result_b}", 200),
    (SUPERVISOR, "GET", "/reviews/{review_b}", 200),
    (SUPERVISOR, "GET", "/supervision", 200),
    (SUPERVISOR, "GET", "/insights", 200),
    (SUPERVISOR, "GET", "/ledger", 200),
    (SUPERVISOR, "POST", "/w/{ws_b}/keys", 403),
    (SUPERVISOR, "GET", "/applications", 200),
    (SUPERVISOR, "GET", "/applications/new", 403),
    (SUPERVISOR, "POST", "/applications", 403),
    (SUPERVISOR, "POST", "/reviews/{review_b}/respond", 403),
    # operator: usage and ledger, not the contents of use cases
    (OPERATOR, "GET", "/operations", 200),
    (OPERATOR, "GET", "/ledger", 200),
    (OPERATOR, "GET", "/w/{ws_b}", 403),
    (OPERATOR, "GET", "/trials/{trial_b}", 403),
    (OPERATOR, "GET", "/supervision", 403),
]


@pytest.mark.parametrize("who", sorted({row[0] for row in TABLE}))
def test_isolation_table(new_page: Any, site: Site, who: str) -> None:
    page = new_page(who)
    csrf = page.evaluate("() => document.body.getAttribute('hx-headers')")
    token = __import__("json").loads(csrf)["X-CSRF-Token"]
    values = {k: v for k, v in vars(site).items() if isinstance(v, str)}
    failures = []
    for email, method, template, expected in TABLE:
        if email != who:
            continue
        url = template.format(**values)
        if method == "GET":
            response = page.request.get(url, max_redirects=0)
        else:
            response = page.request.post(url, form={"csrf_token": token, "text": "x"}, max_redirects=0)
        status = response.status
        if status != expected:
            failures.append(f"{method} {url}: {status}, expected {expected}")
        if status in (403, 404):
            body = response.text()
            assert "<html" in body and f"{status} ·" in body, f"{url} should answer with an HTML error page"
    assert not failures, "\n".join(failures)
