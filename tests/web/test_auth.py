"""Sessions, CSRF, login throttling and error pages."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.web.conftest import OPERATOR, OWNER_A, Site, shot


def _csrf(client: httpx.Client) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_login_redirects_back_to_the_page_asked_for(new_page: Any, site: Site) -> None:
    page = new_page()
    page.goto(f"/w/{site.ws_a}/trials")
    page.wait_for_url(re.compile(r"/login\?next="))
    shot(page, "login")
    page.fill("input[name=email]", OWNER_A)
    page.fill("input[name=password]", "correct-horse-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/w/{site.ws_a}/trials$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "fs_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"/w/{site.ws_a}")
    page.wait_for_url(re.compile(r"/login\?next="))


def test_wrong_password_keeps_email_and_throttles(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        for _ in range(5):
            r = client.post(
                "/login", data={"email": OPERATOR, "password": "wrong-password", "csrf_token": _csrf(client)}
            )
            assert r.status_code == 401
            assert "wrong email or password" in r.text and OPERATOR in r.text
        r = client.post(
            "/login", data={"email": OPERATOR, "password": "correct-horse-1", "csrf_token": _csrf(client)}
        )
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        assert "Try again in" in r.text


def test_post_without_csrf_token_is_refused(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        r = client.post("/login", data={"email": OWNER_A, "password": "correct-horse-1"})
        assert r.status_code == 403
        assert "Form expired" in r.text


def test_unknown_page_is_html_and_api_stays_json(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        page = client.get("/no-such-page")
        assert page.status_code == 404 and "text/html" in page.headers["content-type"]
        api = client.get("/v1/models")
        assert api.status_code == 401 and api.json()["error"]["type"] == "authentication_error"
        assert "set-cookie" not in api.headers  # the gateway's path carries no session
