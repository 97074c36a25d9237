"""The apps import one way: organizations <- audit <- accounts <- members <- credentials <-
partners <- notifications, api, sftpd, imports <- handoffs (which emails through notifications).
Work that spans apps is composed above them (settings, credentials.hooks filled by the upper app's
AppConfig.ready()), never by an import of an upper app, and never by an import hidden inside a
function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"organizations": 0, "audit": 1, "accounts": 2, "members": 3, "credentials": 4,
          "partners": 5, "notifications": 6, "api": 6, "sftpd": 6, "imports": 6,
          "handoffs": 7}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_no_app_imports_an_app_above_it_or_beside_it():
    wrong = []
    for app, layer in LAYERS.items():
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for line, module in _imports(path):
                other = module.split(".")[0]
                if other in LAYERS and other != app and LAYERS[other] >= layer:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def _app_modules():
    for app in [*LAYERS, "config"]:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_no_module_imports_inside_a_function_but_an_apps_ready():
    """An import inside a function hides a cycle. AppConfig.ready() is the one exception:
    Django's app registry is only ready there."""
    hidden = []
    for path in _app_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "ready":
                hidden += [f"{path.relative_to(ROOT)}:{inner.lineno} {ast.unparse(inner)}"
                           for inner in ast.walk(node)
                           if isinstance(inner, ast.Import | ast.ImportFrom)]
    assert hidden == []
