"""Reference use cases: one folder per theme, each with a seeded synthetic-data generator, target
templates and a suite (`suite.yaml`) that a trial can run as is.

The generated datasets and corpora are committed as package data; `regenerate(theme)` rewrites them
byte for byte from the generator, and `python -m finsandbox.usecases.<theme>.generate` does the same
from the command line.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from finsandbox.errors import ConfigError

if TYPE_CHECKING:
    from finsandbox.evals.model import Suite

THEMES: tuple[str, ...] = ("customer_service", "anti_fraud", "risk_management", "process_reengineering")

_ROOT = Path(__file__).resolve().parent


def _check(theme: str) -> str:
    if theme not in THEMES:
        raise ConfigError(f"unknown use-case theme '{theme}' (known: {', '.join(THEMES)})")
    return theme


def theme_dir(theme: str) -> Path:
    return _ROOT / _check(theme)


def suite_path(theme: str) -> Path:
    """The reference suite file of a theme."""
    return theme_dir(theme) / "suite.yaml"


def load_reference_suite(theme: str) -> Suite:
    """The theme's reference suite, loaded and validated by the evals loader."""
    from finsandbox.evals.loader import load_suite  # lazy: evals sits above usecases' data

    return load_suite(suite_path(theme))


def regenerate(theme: str, out_dir: Path | None = None) -> list[Path]:
    """Rewrite the theme's datasets and corpora (into `out_dir`, default the package folder)."""
    module = importlib.import_module(f"finsandbox.usecases.{_check(theme)}.generate")
    return module.generate(out_dir)


__all__ = ["THEMES", "load_reference_suite", "regenerate", "suite_path", "theme_dir"]
