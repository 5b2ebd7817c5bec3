"""The README's configuration table names every FINSANDBOX_* variable the code, scripts and tests read."""

from __future__ import annotations

import re
from pathlib import Path

from finsandbox.config import Settings

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bFINSANDBOX_[A-Z0-9_]*[A-Z0-9]\b")


def _configuration_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Configuration")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = _configuration_section()
    missing = [
        f"FINSANDBOX_{n.upper()}" for n in Settings.model_fields if f"FINSANDBOX_{n.upper()}" not in table
    ]
    assert not missing, f"add to the README's configuration table: {missing}"


def test_every_variable_the_repository_reads_is_in_the_configuration_table() -> None:
    table = _configuration_section()
    places = [ROOT / "Makefile", *(ROOT / "scripts").glob("*.sh")]
    for folder in ("src", "tests", "bench", "docs"):
        places += (ROOT / folder).rglob("*.py")
    used = {name for path in places for name in NAME.findall(path.read_text(encoding="utf-8"))}
    missing = sorted(name for name in used if name not in table)
    assert not missing, f"add to the README's configuration table: {missing}"
