"""Datasets: CSV or JSONL files a workspace uploads, validated whole and kept as rows of JSON.

An upload is refused with the reason (too large, not UTF-8, a bad JSON line, a CSV row with the wrong
number of fields), naming the line, so nothing half-read is ever stored. The ledger records each
upload and deletion by digest, name and row count, never the rows themselves. A dataset whose rows
are all evaluation cases (id, input, expected) is marked `is_case_set`, for use as a recipe's dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.access.authz import authorize
from finsandbox.config import get_settings
from finsandbox.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from finsandbox.evals.model import Case
from finsandbox.store.models import Dataset, User, Workspace

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_ERRORS = 5  # reported per refused file; the rest are counted
_NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")


def _actor(user: User) -> str:
    return f"user:{user.email}"


def _format_of(filename: str) -> str:
    lower = filename.lower()
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt
    raise InvalidRequest(
        f"{filename or 'the file'} is neither .csv nor .jsonl; upload a CSV file with a header row "
        "or a JSONL file (one JSON object a line)",
        param="file",
    )


def _text(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidRequest(
            f"{filename}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 and upload it again",
            param="file",
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidRequest(
            f"{filename}, line {line}: holds a NUL character; is it a binary file?", param="file"
        )
    return text


def _refuse(filename: str, errors: list[str], total: int) -> None:
    more = f" (and {total - len(errors)} more)" if total > len(errors) else ""
    raise InvalidRequest(f"{filename}: " + "; ".join(errors) + more, param="file")


def parse_jsonl(text: str, filename: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns in first-seen order, rows): one JSON object a line; blank lines are skipped."""
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    errors: list[str] = []
    total = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            problem = f"line {lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
        else:
            if isinstance(value, dict):
                rows.append(value)
                columns.update(dict.fromkeys(value))
                continue
            problem = f"line {lineno}: expected a JSON object, found {type(value).__name__}"
        total += 1
        if len(errors) < MAX_ERRORS:
            errors.append(problem)
    if errors:
        _refuse(filename, errors, total)
    return list(columns), rows


def parse_csv(text: str, filename: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of a CSV file whose first row names the columns; every row must have as many fields."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    total = 0
    row_no = 0
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if header is None:
                header = [h.strip() for h in record]
                blank = [str(i + 1) for i, h in enumerate(header) if not h]
                if blank:
                    raise InvalidRequest(
                        f"{filename}, line {reader.line_num}: the header row has no name for column "
                        f"{', '.join(blank)}",
                        param="file",
                    )
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes:
                    raise InvalidRequest(
                        f"{filename}, line {reader.line_num}: the header row names {', '.join(dupes)} twice",
                        param="file",
                    )
                continue
            row_no += 1
            if len(record) != len(header):
                total += 1
                if len(errors) < MAX_ERRORS:
                    errors.append(
                        f"row {row_no} (line {reader.line_num}): {len(record)} fields where the header "
                        f"has {len(header)}"
                    )
                continue
            rows.append(dict(zip(header, record, strict=True)))
    except csv.Error as exc:
        raise InvalidRequest(
            f"{filename}, line {reader.line_num}: malformed CSV ({exc})", param="file"
        ) from None
    if header is None:
        raise InvalidRequest(f"{filename} is empty; a CSV file needs a header row", param="file")
    if errors:
        _refuse(filename, errors, total)
    return header, rows


def as_case(
    row: dict[str, Any],
    *,
    input_column: str = "input",
    expected_column: str = "expected",
    id_column: str = "id",
) -> dict[str, Any]:
    """One row as an evaluation case: `expected` may be a mapping (JSONL), a JSON object written in a
    CSV cell, or a plain value, which becomes the gold answer (`{"answer": value}`)."""
    expected: Any = row.get(expected_column)
    if isinstance(expected, str):
        text = expected.strip()
        if text.startswith("{"):
            try:
                expected = json.loads(text)
            except ValueError:
                expected = {"answer": expected}
        else:
            expected = {"answer": expected}
    elif expected is None:
        expected = {}
    elif not isinstance(expected, dict):
        expected = {"answer": expected}
    case: dict[str, Any] = {
        "id": str(row.get(id_column, "")),
        "input": row.get(input_column),
        "expected": expected,
    }
    for key in ("context", "metadata", "tags"):
        if key in row and key not in (input_column, expected_column, id_column):
            case[key] = row[key]
    return case


def is_case_set(rows: list[dict[str, Any]]) -> bool:
    """True when every row is an evaluation case (id, input and expected) and no id repeats."""
    if not rows:
        return False
    ids: set[str] = set()
    for row in rows:
        if not {"id", "input", "expected"} <= row.keys():
            return False
        try:
            case = Case.model_validate(as_case(row))
        except ValidationError:
            return False
        if case.id in ids:
            return False
        ids.add(case.id)
    return True


def upload_dataset(
    session: Session, user: User, workspace: Workspace, *, name: str, filename: str, data: bytes
) -> Dataset:
    """Validate the file whole and store it as a dataset of the workspace, with its ledger entry.

    Call inside `session_scope(write=True)`: the row and the ledger entry commit together.
    """
    authorize(user, "dataset.upload", workspace)
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not filename:
        raise InvalidRequest("choose a CSV or JSONL file to upload", param="file")
    name = (name or "").strip() or filename.rsplit(".", 1)[0]
    if not _NAME.match(name):
        raise InvalidRequest("the dataset name must be 1-100 characters on one line", param="name")
    limit = get_settings().max_upload_bytes
    if len(data) > limit:
        raise PayloadTooLarge(
            f"{filename} is larger than the upload limit of {limit:,} bytes (FINSANDBOX_MAX_UPLOAD_BYTES)",
            param="file",
        )
    fmt = _format_of(filename)
    if not data.strip():
        raise InvalidRequest(f"{filename} is empty", param="file")
    text = _text(data, filename)
    columns, rows = parse_csv(text, filename) if fmt == "csv" else parse_jsonl(text, filename)
    if not rows:
        raise InvalidRequest(f"{filename} holds no rows", param="file")
    if session.scalars(
        select(Dataset.id).where(Dataset.workspace_id == workspace.id, Dataset.name == name)
    ).first():
        raise Conflict(f"this workspace already has a dataset named {name!r}", param="name")
    dataset = Dataset(
        workspace_id=workspace.id,
        name=name,
        filename=filename[:255],
        format=fmt,
        columns=columns,
        row_count=len(rows),
        rows=rows,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        is_case_set=is_case_set(rows),
        uploaded_by=user.email,
    )
    session.add(dataset)
    session.flush()
    ledger.append(
        session,
        actor=_actor(user),
        kind="dataset.uploaded",
        workspace_id=workspace.id,
        payload={
            "dataset_id": dataset.id,
            "name": name,
            "format": fmt,
            "rows": len(rows),
            "bytes": len(data),
            "digest": dataset.sha256,
            "is_case_set": dataset.is_case_set,
        },
    )
    return dataset


def list_datasets(session: Session, user: User, workspace: Workspace) -> list[Dataset]:
    authorize(user, "dataset.view", workspace)
    return list(
        session.scalars(
            select(Dataset).where(Dataset.workspace_id == workspace.id).order_by(Dataset.created_at.desc())
        )
    )


def get_dataset(session: Session, user: User, workspace: Workspace, dataset_id: str) -> Dataset:
    """The workspace's dataset, or NotFound (also for a dataset of another workspace)."""
    authorize(user, "dataset.view", workspace)
    dataset = session.get(Dataset, dataset_id) if len(dataset_id) <= 32 else None
    if dataset is None or dataset.workspace_id != workspace.id:
        raise NotFound(f"no dataset {dataset_id!r}")
    return dataset


def delete_dataset(session: Session, user: User, workspace: Workspace, dataset_id: str) -> None:
    """Remove the dataset; the ledger keeps its digest, name and row count."""
    dataset = get_dataset(session, user, workspace, dataset_id)
    authorize(user, "dataset.delete", dataset)
    ledger.append(
        session,
        actor=_actor(user),
        kind="dataset.deleted",
        workspace_id=workspace.id,
        payload={
            "dataset_id": dataset.id,
            "name": dataset.name,
            "rows": dataset.row_count,
            "digest": dataset.sha256,
        },
    )
    session.delete(dataset)
    session.flush()


def preview(dataset: Dataset, rows: int = 20, columns: int = 20) -> tuple[list[str], list[list[str]]]:
    """The first `rows` rows and `columns` columns as display text (JSON for non-string values)."""
    cols = list(dataset.columns)[:columns]
    out: list[list[str]] = []
    for row in dataset.rows[:rows]:
        cells = []
        for col in cols:
            value = row.get(col)
            text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
            cells.append(text if len(text) <= 200 else text[:199] + "…")
        out.append(cells)
    return cols, out
