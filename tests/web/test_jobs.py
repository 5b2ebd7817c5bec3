"""The Jobs page in a browser: submit with the problem beside its field, live progress to the end,
cancel and resume, the allocation next to use; the operator sets allocations; other banks see nothing."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import OPERATOR, OWNER_A, OWNER_B, Site, shot


def _dataset(slug: str) -> None:
    from finsandbox.access import get_user
    from finsandbox.evals.datasets import upload_dataset
    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope

    data = "".join(f'{{"id": "r{i}", "input": "question {i}"}}\n' for i in range(3)).encode()
    with session_scope(write=True) as s:
        upload_dataset(
            s,
            get_user(s, OWNER_A),
            get_workspace(s, slug),
            name="questions",
            filename="questions.jsonl",
            data=data,
        )


def _job(slug: str, state: str) -> str:
    """A job put straight into `state` (as a runner elsewhere would have left it)."""
    from datetime import UTC, datetime

    from finsandbox.programme import get_workspace
    from finsandbox.store import session_scope
    from finsandbox.store.models import Job

    with session_scope(write=True) as s:
        ws = get_workspace(s, slug)
        job = Job(
            workspace_id=ws.id,
            kind="batch_inference",
            estimate={},
            state=state,
            created_by="test",
            params={
                "dataset": "questions",
                "dataset_id": "",
                "dataset_sha256": "",
                "endpoint": "stub",
                "column": "input",
                "system": None,
                "rows": 3,
                "max_tokens": 16,
                "temperature": 0.0,
            },
            runner="elsewhere" if state == "running" else None,
            heartbeat_at=datetime.now(UTC),
        )
        s.add(job)
        s.flush()
        return job.id


def test_jobs_page_submit_progress_cancel_resume_and_allocations(new_page: Any, site: Site) -> None:
    _dataset(site.ws_a)
    page = new_page(OWNER_A)
    page.goto(f"/w/{site.ws_a}/jobs")
    assert "no limit" in page.locator("#allocation-table tr[data-resource=tokens]").inner_text()
    form = page.locator("#submit-batch_inference")
    page.locator("#kind-batch_inference").evaluate("d => { d.open = true }")
    form.locator("button[type=submit]").click()
    assert (
        "name the dataset"
        in page.locator("#submit-batch_inference .field-error[data-field=dataset]").inner_text()
    )
    form = page.locator("#submit-batch_inference")
    form.locator("select[name=dataset]").select_option("questions")
    form.locator("input[name=max_tokens]").fill("16")
    form.locator("button[type=submit]").click()
    row = page.locator("#job-list tbody tr").first
    # the table polls itself: the job goes from queued to succeeded without a reload
    page.wait_for_selector("#job-list tr[data-state=succeeded]", timeout=60_000)
    assert "3 / 3" in row.inner_text()
    assert row.locator("a:has-text('outputs.jsonl')").count() == 1
    shot(page, "jobs")

    # cancel a running job, resume an interrupted one (the server's runner then finishes it)
    running, interrupted = _job(site.ws_a, "running"), _job(site.ws_a, "interrupted")
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#job-{running} button:has-text('Cancel')").click()
    page.wait_for_selector(f"#job-{running}[data-state=cancelling]")
    page.locator(f"#job-{interrupted} button:has-text('Resume')").click()
    page.wait_for_selector(
        f"#job-{interrupted}[data-state=failed], #job-{interrupted}[data-state=succeeded]", timeout=60_000
    )

    # the operator sets the allocation; the participant sees it and a job that does not fit is refused
    op = new_page(OPERATOR)
    op.goto("/operations/allocations")
    op.locator(f"#alloc-{site.ws_a} input[name=tokens]").fill("abc")
    op.locator(f"#alloc-{site.ws_a} button[type=submit]").click()
    assert "a number" in op.locator(f"#alloc-{site.ws_a} .field-error").inner_text()
    op.locator(f"#alloc-{site.ws_a} input[name=tokens]").fill("10")
    op.locator(f"#alloc-{site.ws_a} button[type=submit]").click()
    op.wait_for_selector(f"#alloc-{site.ws_a} input[name=tokens][value='10']")
    page.goto(f"/w/{site.ws_a}/jobs")
    assert "10" in page.locator("#allocation-table tr[data-resource=tokens]").inner_text()
    page.locator("#kind-batch_inference").evaluate("d => { d.open = true }")
    form = page.locator("#submit-batch_inference")
    form.locator("select[name=dataset]").select_option("questions")
    form.locator("button[type=submit]").click()
    assert "allocation has 0 left" in page.locator("#kind-batch_inference .error").first.inner_text()

    # another bank: the page does not exist; a participant cannot reach the operator's page
    other = new_page(OWNER_B)
    assert other.goto(f"/w/{site.ws_a}/jobs").status == 404
    assert other.goto(f"/jobs/{running}/artifacts/outputs.jsonl").status == 404
    assert page.goto("/operations/allocations").status == 403
