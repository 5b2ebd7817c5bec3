"""HTML from Jinja2 templates and PDF from that HTML with WeasyPrint, one engine for every report."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def interval(ci: list[float] | None) -> str:
    return "–" if not ci else f"{100 * ci[0]:.0f}–{100 * ci[1]:.0f}%"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("finsandbox.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["interval"] = interval
    env.filters["short"] = lambda s, n=12: str(s)[:n] if s else ""
    return env


def render_html(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def render_pdf(html: str, base_url: str | Path | None = None) -> bytes:
    """The HTML as PDF; imported lazily because WeasyPrint loads Pango at import time."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(base_url) if base_url else None).write_pdf()  # type: ignore[no-any-return]
