"""Browser tests: a real `finsandbox serve` on the test database, a stub model upstream, and headless
Chromium from Debian's `chromium` package driven by Playwright (Python).

Screenshots of the main pages are written to $FINSANDBOX_SCREENSHOTS when it is set
(`FINSANDBOX_SCREENSHOTS=docs/screenshots pytest tests/web` refreshes the README's images).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import empty_tables

CHROMIUM = os.environ.get("FINSANDBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct-horse-1"
SUPERVISOR = "sam@regulator.example.com"
OPERATOR = "olive@operator.example.com"
OWNER_A = "owner@alpha-assist.example.com"
OWNER_B = "owner@beta-assist.example.com"
VIEWER_A = "viewer@alpha-assist.example.com"


@dataclass
class Site:
    """The running server and the programme built for the browser tests."""

    url: str
    upstream_url: str
    ws_a: str
    ws_b: str
    trial_b: str
    review_b: str
    key_b: str
    result_b: str


def _build(upstream_url: str) -> dict[str, str]:
    """Two banks with a workspace each (stub endpoint), a supervisor, an operator, a cohort, and for
    bank B a hand-made completed trial with a review, so isolation can be probed on every kind of URL."""
    from sqlalchemy import select

    from finsandbox.access import create_institution, create_key, create_user
    from finsandbox.programme import add_endpoint, add_member, create_workspace
    from finsandbox.store import session_scope
    from finsandbox.store.models import CaseResult, Institution, User
    from finsandbox.supervision.cohorts import add_workspace, create_cohort
    from finsandbox.supervision.reviews import open_review
    from finsandbox.supervision.scorecards import build_scorecard
    from tests.supervision.helpers import Row, make_trial

    def inst(s: Any, name: str, kind: str) -> Institution:
        found = s.scalars(select(Institution).where(Institution.name == name)).first()
        return found or create_institution(s, name=name, kind=kind, actor="test")

    def user(s: Any, email: str, institution: Institution) -> User:
        return create_user(
            s,
            email=email,
            display_name=email.split("@")[0].title(),
            institution=institution,
            password=PASSWORD,
            actor="test",
        )

    out: dict[str, str] = {}
    with session_scope(write=True) as s:
        user(s, SUPERVISOR, inst(s, "Regulator", "supervisor"))
        user(s, OPERATOR, inst(s, "Operator", "operator"))
        cohort = create_cohort(s, name="Cohort 2026", themes=["customer_service"], actor="test")
        for slug, bank, email in (
            ("alpha-assist", "Alpha Bank", OWNER_A),
            ("beta-assist", "Beta Bank", OWNER_B),
        ):
            bank_inst = inst(s, bank, "bank")
            ws = create_workspace(
                s, slug=slug, name=f"{bank} assistant", theme="customer_service", bank=bank_inst, actor="test"
            )
            add_member(s, ws, user(s, email, bank_inst), role="owner", actor="test")
            add_endpoint(
                s,
                ws,
                name="stub",
                backend="openai",
                config={"base_url": f"{upstream_url}/v1", "model": "m"},
                actor="test",
            )
            add_workspace(s, cohort, ws, actor="test")
            out[slug] = ws.id
        alpha = s.scalars(select(Institution).where(Institution.name == "Alpha Bank")).one()
        from finsandbox.programme import get_workspace

        add_member(s, get_workspace(s, "alpha-assist"), user(s, VIEWER_A, alpha), role="viewer", actor="test")
        out["key_b"] = create_key(s, get_workspace(s, "beta-assist"), name="b", actor="test").key.prefix
    trial_b = make_trial(
        out["beta-assist"],
        [Row("tiny/answers", True), Row("tiny/answers", False), Row("tiny/privacy", True)],
        name="beta baseline",
    )
    with session_scope(write=True) as s:
        sup = s.scalars(select(User).where(User.email == SUPERVISOR)).one()
        card, _ = build_scorecard(s, trial_b, actor="test", user=sup)
        review = open_review(s, sup, card.id, title="Beta baseline review")
        out["review_b"] = review.id
        out["result_b"] = s.scalars(select(CaseResult.id).where(CaseResult.trial_id == trial_b)).first() or ""
    out["trial_b"] = trial_b
    return out


@pytest.fixture(scope="module")
def site(database_url: str) -> Iterator[Site]:
    from finsandbox.testing.processes import server, upstream

    with upstream() as up:
        built = _build(up.url)
        try:
            # Two slots in the pool: a job left "running" by a runner elsewhere (the Jobs test) holds one
            # until its heartbeat goes stale, and must not keep the server's own runner waiting that long.
            env = {"FINSANDBOX_DATABASE_URL": database_url, "FINSANDBOX_JOB_CONCURRENCY": "2"}
            with server(env=env) as srv:
                yield Site(
                    url=srv.url,
                    upstream_url=up.url,
                    ws_a="alpha-assist",
                    ws_b="beta-assist",
                    trial_b=built["trial_b"],
                    review_b=built["review_b"],
                    key_b=built["key_b"],
                    result_b=built["result_b"],
                )
        finally:
            empty_tables(database_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Any, site: Site) -> Iterator[Any]:
    """A factory of signed-in pages, one browser context (cookie jar) per user."""
    contexts: list[Any] = []

    def make(email: str | None = None) -> Any:
        context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        if email:
            login(page, email)
        return page

    yield make
    for context in contexts:
        context.close()


def login(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot when FINSANDBOX_SCREENSHOTS names a folder."""
    folder = os.environ.get("FINSANDBOX_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
