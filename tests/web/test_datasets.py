"""Datasets in the browser: a CSV upload is previewed; a malformed JSONL upload is refused with the line
named and the dataset name kept; another bank's participant is told the dataset does not exist."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import OWNER_A, OWNER_B, Site, shot

CSV = (
    "customer,segment,amount,note\n"
    + "".join(f"C{i:03},{'retail' if i % 2 else 'sme'},{i * 10}.00,row {i}\n" for i in range(1, 26))
).encode()
BAD_JSONL = b'{"id": "a", "input": "hello", "expected": {}}\n{"id": "b", "input": oops}\n'


def _upload(page: Any, name: str, filename: str, mime: str, data: bytes) -> None:
    page.fill("#upload-dataset input[name=name]", name)
    page.set_input_files(
        "#upload-dataset input[name=file]", files=[{"name": filename, "mimeType": mime, "buffer": data}]
    )
    page.click("#upload-dataset button[type=submit]")
    page.wait_for_load_state()


def test_upload_csv_and_see_the_preview(new_page: Any, site: Site) -> None:
    page = new_page(OWNER_A)
    page.goto(f"/w/{site.ws_a}")
    page.click("a:has-text('Datasets')")
    page.wait_for_selector("#upload-dataset")
    _upload(page, "card payments", "payments.csv", "text/csv", CSV)
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{32}$"))
    assert "25 rows, 4 columns" in page.inner_text("#dataset-meta")
    headers = page.locator("#preview thead th").all_inner_texts()
    assert headers == ["#", "customer", "segment", "amount", "note"]
    assert page.locator("#preview tbody tr").count() == 20  # the first 20 rows
    first = page.locator("#preview tbody tr").first.locator("td").all_inner_texts()
    assert first == ["1", "C001", "retail", "10.00", "row 1"]
    shot(page, "dataset-preview")
    dataset_url = page.url

    # Another bank's participant: the dataset does not exist for them.
    other = new_page(OWNER_B)
    response = other.goto(dataset_url)
    assert response is not None and response.status == 404

    # Delete, after confirming.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url(re.compile(r"/datasets$"))
    assert page.locator("#datasets a:has-text('card payments')").count() == 0


def test_malformed_jsonl_is_refused_with_the_line(new_page: Any, site: Site) -> None:
    page = new_page(OWNER_A)
    page.goto(f"/w/{site.ws_a}/datasets")
    _upload(page, "fee cases", "cases.jsonl", "application/x-ndjson", BAD_JSONL)
    error = page.wait_for_selector("#upload-error")
    assert "cases.jsonl: line 2: not valid JSON" in error.inner_text()
    assert page.input_value("#upload-dataset input[name=name]") == "fee cases"
    shot(page, "dataset-upload-error")
    assert page.locator("#datasets a:has-text('fee cases')").count() == 0
