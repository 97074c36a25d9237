"""How the API app's code is laid out: HTTP stays in the views (tests/test_architecture.py
keeps every app's imports one way and at the top of modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import api

API_DIR = Path(api.__file__).parent


def _modules_imported(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_its_services_and_selectors_know_no_http():
    """Services take values and raise domain errors; api.http.respond decides the answers."""
    for name in ("services.py", "selectors.py"):
        imported = _modules_imported((API_DIR / name).read_text())
        assert not imported & {"django.http", ".http", ".schema", ".shapes", ".views"}, name
