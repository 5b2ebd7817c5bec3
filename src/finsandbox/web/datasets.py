"""Dataset pages: upload a CSV or JSONL file (refused with the reason, name kept), list, preview, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from finsandbox.config import get_settings
from finsandbox.errors import FinsandboxError
from finsandbox.evals.datasets import delete_dataset, get_dataset, list_datasets, preview, upload_dataset
from finsandbox.store.models import Workspace
from finsandbox.web.base import Editor, Page, Viewer, field_errors
from finsandbox.web.workspaces import workspace_for

router = APIRouter()
PREVIEW_ROWS = 20
PREVIEW_COLUMNS = 20


def _list_page(
    page: Page,
    ws: Workspace,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page.render(
        "datasets.html",
        {
            "ws": ws,
            "datasets": list_datasets(page.session, page.user, ws),
            "can_upload": page.may("dataset.upload", ws),
            "limit": get_settings().max_upload_bytes,
            "form": form or {},
            "errors": errors or {},
        },
        status,
    )


@router.get("/w/{slug}/datasets", include_in_schema=False)
def datasets(page: Viewer, slug: str) -> Response:
    return _list_page(page, workspace_for(page, slug, "dataset.view"))


@router.post("/w/{slug}/datasets", include_in_schema=False)
def upload(
    page: Editor,
    slug: str,
    file: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form()] = "",
) -> Response:
    """Validate and store the file; a refused file comes back with the reason and the name kept."""
    ws = workspace_for(page, slug, "dataset.upload")
    limit = get_settings().max_upload_bytes
    filename = (file.filename or "") if file is not None else ""
    data = file.file.read(limit + 1) if file is not None else b""
    try:
        dataset = upload_dataset(page.session, page.user, ws, name=name, filename=filename, data=data)
    except FinsandboxError as exc:
        status = exc.status_code if exc.status_code in (400, 409, 413) else 400
        return _list_page(page, ws, form={"name": name}, errors=field_errors(exc, "file"), status=status)
    return RedirectResponse(f"/w/{ws.slug}/datasets/{dataset.id}", status_code=303)


@router.get("/w/{slug}/datasets/{dataset_id}", include_in_schema=False)
def dataset_page(page: Viewer, slug: str, dataset_id: str) -> Response:
    ws = workspace_for(page, slug, "dataset.view")
    dataset = get_dataset(page.session, page.user, ws, dataset_id)
    columns, rows = preview(dataset, PREVIEW_ROWS, PREVIEW_COLUMNS)
    return page.render(
        "dataset.html",
        {
            "ws": ws,
            "dataset": dataset,
            "columns": columns,
            "rows": rows,
            "more_columns": max(0, len(dataset.columns) - len(columns)),
            "can_delete": page.may("dataset.delete", dataset),
        },
    )


@router.post("/w/{slug}/datasets/{dataset_id}/delete", include_in_schema=False)
def delete(page: Editor, slug: str, dataset_id: str) -> Response:
    ws = workspace_for(page, slug, "dataset.view")
    delete_dataset(page.session, page.user, ws, dataset_id)
    return RedirectResponse(f"/w/{ws.slug}/datasets", status_code=303)
