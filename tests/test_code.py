"""House rules that a reader would otherwise have to check by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def functions(package: str) -> list[tuple[str, int]]:
    """Return ``(file:name, lines)`` for every function and method of ``package``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                found.append((f"{path.relative_to(ROOT)}:{node.name}", lines))
    return found


@pytest.mark.parametrize("package", ["notifications", "project"])
def test_no_function_runs_over_sixty_lines(package: str) -> None:
    too_long = [(name, n) for name, n in functions(package) if n > MAX_FUNCTION_LINES]
    assert too_long == []
