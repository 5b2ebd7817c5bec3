"""Reference use cases: one folder per theme, each with a seeded synthetic-data generator, target
templates and a suite (`suite.yaml`) that a trial can run as is.

The generated datasets and corpora are committed as package data; `regenerate(theme)` rewrites them
byte for byte from the generator, and `python -m finsandbox.usecases.<theme>.generate` does the same
from the command line.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from finsandbox.access.roles import THEMES
from finsandbox.errors import ConfigError

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


def regenerate(theme: str, out_dir: Path | None = None) -> list[Path]:
    """Rewrite the theme's datasets and corpora (into `out_dir`, default the package folder)."""
    module = importlib.import_module(f"finsandbox.usecases.{_check(theme)}.generate")
    return module.generate(out_dir)


__all__ = ["THEMES", "regenerate", "suite_path", "theme_dir"]
