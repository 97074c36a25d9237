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
