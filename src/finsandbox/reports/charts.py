"""Charts drawn on the server with matplotlib (Agg) as SVG, so reports need no browser or CDN."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # keep text as text: searchable, and small
        "font.family": "DejaVu Sans",
        "font.size": 11,  # charts are shown ~450 px wide: smaller type is unreadable
        "axes.titlesize": 12,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def data_uri(svg: str) -> str:
    """The SVG as a data URI for an <img>, which both browsers and WeasyPrint render."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def trend_chart(labels: Sequence[str], series: dict[str, Sequence[float | None]], title: str) -> str:
    """Pass rate (0-100%) per trial for each named series; gaps where a series has no data."""
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    x = list(range(len(labels)))
    for name, values in series.items():
        points = [(i, 100 * v) for i, v in zip(x, values, strict=False) if v is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", linewidth=1.4, label=name)
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("pass rate (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if series:
        ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _svg(fig)


def rate_bars(
    names: Sequence[str],
    rates: Sequence[float | None],
    cis: Sequence[Sequence[float] | None],
    title: str,
    xlabel: str = "pass rate (%) with 95% interval",
) -> str:
    """Horizontal bars of pass rates with their confidence intervals as error bars."""
    fig, ax = plt.subplots(figsize=(6.0, 0.42 * max(3, len(names)) + 1.0))
    y = list(range(len(names)))
    values = [100 * (r or 0.0) for r in rates]
    # Float rounding can put a Wilson bound a hair on the wrong side of the rate; clamp it.
    lower = [
        max(0.0, 100 * ((r or 0.0) - ci[0])) if ci and r is not None else 0.0
        for r, ci in zip(rates, cis, strict=False)
    ]
    upper = [
        max(0.0, 100 * (ci[1] - (r or 0.0))) if ci and r is not None else 0.0
        for r, ci in zip(rates, cis, strict=False)
    ]
    ax.barh(y, values, xerr=[lower, upper], color="#3b6ea5", ecolor="#333333", capsize=2, height=0.6)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for i, r in zip(y, rates, strict=False):  # the rate in words, so a 0% bar is not an empty row
        at = min(values[i] + upper[i] + 1.5, 90.0)
        ax.text(at, i, "no data" if r is None else f"{100 * r:.0f}%", va="center", fontsize=9)
    return _svg(fig)


def distribution_chart(groups: dict[str, Sequence[float]], title: str) -> str:
    """Box plots of per-institution rates for each group that may be shown."""
    fig, ax = plt.subplots(figsize=(6.6, 2.8))
    names = list(groups)
    if names:
        ax.boxplot([[100 * v for v in groups[n]] for n in names], vert=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("pass rate (%)")
    ax.set_title(title)
    return _svg(fig)


def loss_chart(losses: Sequence[float], title: str) -> str:
    """Training loss per optimiser step, with a moving average when the raw curve is noisy."""
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    steps = list(range(1, len(losses) + 1))
    ax.plot(steps, losses, color="#9bb7d4", linewidth=1, label="loss per step")
    window = max(1, len(losses) // 10)
    if window > 1:
        smooth = [
            sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
            for i in range(len(losses))
        ]
        ax.plot(steps, smooth, color="#1f4e79", linewidth=2, label=f"mean of {window} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (completion tokens)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper right")
    return _svg(fig)
