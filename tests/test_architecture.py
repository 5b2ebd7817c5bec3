"""The architecture as a test: layers point down, no import cycles, no private names across packages.

The contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks them, counting
every import, those inside functions included.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "finsandbox"


def test_the_import_contracts_hold() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, out.getvalue()
    assert "0 broken" in out.getvalue()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_imported_from_another_package() -> None:
    """`from finsandbox.evals.loader import _line_of` in programme/ is how layers rot; say it publicly."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        own = parts[0] if len(parts) > 1 else ""
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            module = node.module.split(".")
            if module[0] != "finsandbox" or len(module) < 2 or module[1] == own:
                continue
            for alias in node.names:
                if _private(alias.name) or any(_private(p) for p in module[2:]):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
    assert found == []


def test_the_architecture_document_names_every_setting() -> None:
    from finsandbox.config import Settings

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Configuration\n") :]
    names = [f"FINSANDBOX_{n.upper()}" for n in Settings.model_fields]
    missing = [n for n in names if n not in section]
    assert not missing, f"add to docs/architecture.md's configuration table: {missing}"


def test_documentation_links_stay_inside_the_repository() -> None:
    """A relative link must lead to a file a clone has; nothing may point outside the repository."""
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in link.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue  # a web address is a reference, not a file of ours
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
