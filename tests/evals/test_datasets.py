"""Datasets: a CSV or JSONL upload is validated whole, refused with the reason (naming the line), kept as
rows of JSON, recorded in the ledger by digest without its content, and seen only by its workspace."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from finsandbox.config import get_settings
from finsandbox.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, PermissionDenied
from finsandbox.evals import datasets as ds
from finsandbox.programme.workspaces import get_workspace
from finsandbox.store import session_scope
from finsandbox.store.models import Dataset, LedgerEntry
from tests.programme.helpers import ALICE, BOB, GINA, SAM, admitted_use_case, make_cohort, user

CASES = b"\n".join(
    json.dumps(row).encode()
    for row in (
        {"id": "fee-1", "input": "What is the annual fee?", "expected": {"contains": "fee"}},
        {"id": "fee-2", "input": "Can I waive the fee?", "expected": {"must_refuse": False}},
    )
)
CSV = b'customer,amount,note\nC1,120.50,first\nC2,80,"second, with comma"\n'


@pytest.fixture
def workspace(db: str) -> str:
    make_cohort()
    return admitted_use_case().workspace


def upload(slug: str, email: str = ALICE, *, name: str = "", filename: str, data: bytes) -> Dataset:
    with session_scope(write=True) as s:
        return ds.upload_dataset(
            s, user(s, email), get_workspace(s, slug), name=name, filename=filename, data=data
        )


def refused(slug: str, filename: str, data: bytes, error: type[Exception] = InvalidRequest, **kw: Any) -> str:
    with pytest.raises(error) as exc:
        upload(slug, filename=filename, data=data, **kw)
    with session_scope() as s:
        assert s.scalars(select(Dataset.id)).first() is None  # nothing half-stored
    return exc.value.message  # type: ignore[attr-defined]


def test_jsonl_of_cases_is_stored_and_marked_as_a_case_set(workspace: str) -> None:
    d = upload(workspace, name="fee questions", filename="cases.jsonl", data=CASES + b"\n\n")
    assert (d.format, d.row_count, d.columns) == ("jsonl", 2, ["id", "input", "expected"])
    assert d.is_case_set and d.sha256 == hashlib.sha256(CASES + b"\n\n").hexdigest()
    with session_scope() as s:
        ws = get_workspace(s, workspace)
        stored = ds.get_dataset(s, user(s, GINA), ws, d.id)
        assert stored.rows[0] == {
            "id": "fee-1",
            "input": "What is the annual fee?",
            "expected": {"contains": "fee"},
        }
        assert [x.name for x in ds.list_datasets(s, user(s, SAM), ws)] == ["fee questions"]


def test_csv_with_a_header_row_is_stored_as_rows(workspace: str) -> None:
    d = upload(workspace, filename="payments.csv", data=b"\xef\xbb\xbf" + CSV)  # a BOM is fine
    assert (d.name, d.format, d.row_count) == ("payments", "csv", 2)
    assert d.columns == ["customer", "amount", "note"] and not d.is_case_set
    assert d.rows[1] == {"customer": "C2", "amount": "80", "note": "second, with comma"}
    cols, rows = ds.preview(d, rows=1)
    assert cols == ["customer", "amount", "note"] and rows == [["C1", "120.50", "first"]]


def test_csv_with_plain_expected_values_is_a_case_set(workspace: str) -> None:
    """`id,input,expected` in a CSV: a plain expected value is the gold answer; a JSON object works too."""
    data = b'id,input,expected\nq1,What is 2+2?,4\nq2,Annual fee?,"{""contains"": ""HK$""}"\n'
    d = upload(workspace, filename="qa.csv", data=data)
    assert d.is_case_set
    assert ds.as_case(d.rows[0])["expected"] == {"answer": "4"}
    assert ds.as_case(d.rows[1])["expected"] == {"contains": "HK$"}


def test_jsonl_rows_that_are_not_all_cases_are_no_case_set(workspace: str) -> None:
    d = upload(workspace, filename="mixed.jsonl", data=CASES + b'\n{"id": "x", "text": "no input"}\n')
    assert d.row_count == 3 and not d.is_case_set
    d = upload(workspace, filename="dupes.jsonl", data=CASES + b"\n" + CASES.split(b"\n")[0])
    assert not d.is_case_set  # an id twice


def test_oversized_upload_is_refused_naming_the_limit(
    workspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 64)
    message = refused(workspace, "big.csv", CSV * 5, PayloadTooLarge)
    assert "big.csv" in message and "upload limit of 64 bytes" in message


def test_bad_utf8_is_refused_naming_the_line(workspace: str) -> None:
    message = refused(workspace, "latin.csv", b"name,city\nA,Z\xfcrich\n")
    assert "latin.csv, line 2" in message and "not UTF-8" in message


def test_bad_json_line_is_named(workspace: str) -> None:
    data = CASES + b'\n{"id": "fee-3", "input": oops}\n[1, 2]\n'
    message = refused(workspace, "cases.jsonl", data)
    assert "line 3: not valid JSON" in message
    assert "line 4: expected a JSON object, found list" in message


def test_ragged_csv_row_is_named(workspace: str) -> None:
    message = refused(workspace, "payments.csv", CSV + b"C3,10\n")
    assert "row 3 (line 4): 2 fields where the header has 3" in message


def test_other_refusals(workspace: str) -> None:
    assert "neither .csv nor .jsonl" in refused(workspace, "data.xlsx", b"PK\x03\x04")
    assert "is empty" in refused(workspace, "empty.csv", b"\n\n")
    assert "holds no rows" in refused(workspace, "header.csv", b"a,b\n")
    assert "names a twice" in refused(workspace, "dup.csv", b"a,a\n1,2\n")
    assert "NUL" in refused(workspace, "bin.jsonl", b'{"a": 1}\n\x00\x01')


def test_duplicate_name_in_a_workspace_is_refused(workspace: str) -> None:
    upload(workspace, name="payments", filename="payments.csv", data=CSV)
    with pytest.raises(Conflict) as exc:
        upload(workspace, name="payments", filename="other.csv", data=CSV)
    assert "already has a dataset named 'payments'" in exc.value.message


def test_ledger_records_upload_and_delete_without_content(workspace: str) -> None:
    d = upload(workspace, name="fees", filename="cases.jsonl", data=CASES)
    with session_scope(write=True) as s:
        ds.delete_dataset(s, user(s, GINA), get_workspace(s, workspace), d.id)
    with session_scope() as s:
        entries = list(
            s.scalars(select(LedgerEntry).where(LedgerEntry.kind.like("dataset.%")).order_by(LedgerEntry.seq))
        )
        assert s.get(Dataset, d.id) is None
    assert [e.kind for e in entries] == ["dataset.uploaded", "dataset.deleted"]
    uploaded = json.loads(entries[0].payload)
    assert uploaded["digest"] == d.sha256 and uploaded["name"] == "fees" and uploaded["rows"] == 2
    assert all(e.workspace_id == d.workspace_id for e in entries)
    for e in entries:
        assert "annual fee" not in e.payload and "fee-1" not in e.payload  # no row content


def test_other_banks_cannot_see_or_touch_a_workspace_dataset(workspace: str) -> None:
    d = upload(workspace, filename="payments.csv", data=CSV)
    with session_scope(write=True) as s:
        ws = get_workspace(s, workspace)
        bob = user(s, BOB)
        with pytest.raises(NotFound):
            ds.list_datasets(s, bob, ws)
        with pytest.raises(NotFound):
            ds.get_dataset(s, bob, ws, d.id)
        with pytest.raises(NotFound):
            ds.delete_dataset(s, bob, ws, d.id)
        with pytest.raises(NotFound):
            ds.upload_dataset(s, bob, ws, name="x", filename="x.csv", data=CSV)
        # The regulator sees it but changes nothing a participant owns.
        sam = user(s, SAM)
        assert ds.get_dataset(s, sam, ws, d.id).id == d.id
        with pytest.raises(PermissionDenied):
            ds.delete_dataset(s, sam, ws, d.id)
        with pytest.raises(PermissionDenied):
            ds.upload_dataset(s, sam, ws, name="x", filename="x.csv", data=CSV)


def test_a_dataset_is_not_found_through_another_workspace(workspace: str) -> None:
    d = upload(workspace, filename="payments.csv", data=CSV)
    with session_scope(write=True) as s:
        from finsandbox.programme.workspaces import add_member, create_workspace
        from finsandbox.store.models import Institution

        alpha = s.scalars(select(Institution).where(Institution.name == "Alpha Bank")).one()
        other = create_workspace(
            s, slug="alpha-other", name="Other", theme="anti_fraud", bank=alpha, actor="t"
        )
        alice = user(s, ALICE)
        add_member(s, other, alice, role="owner", actor="t")
        with pytest.raises(NotFound):
            ds.get_dataset(s, alice, other, d.id)
