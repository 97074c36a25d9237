"""How the API app's code is laid out: modules import one way, at their top."""

from __future__ import annotations

import ast
from pathlib import Path

import api

API_DIR = Path(api.__file__).parent


def _imports_inside_functions(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [f"line {inner.lineno}: {ast.unparse(inner)}" for inner in ast.walk(node)
                      if isinstance(inner, ast.Import | ast.ImportFrom)]
    return found


def test_it_imports_nothing_inside_a_function():
    """An import inside a function hides a cycle between modules; the API's modules have
    none (the route table, api/routes.py, is what lets urls, views and openapi avoid one)."""
    hidden = {
        str(path.relative_to(API_DIR)): imports
        for path in sorted(API_DIR.rglob("*.py")) if "migrations" not in path.parts
        for imports in [_imports_inside_functions(path.read_text())] if imports
    }
    assert hidden == {}


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
