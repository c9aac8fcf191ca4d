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


MAX_TOP_LEVEL_MODULES = 20


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports anywhere, inside functions too.

    ``from package import name`` counts ``package.name`` when that is a module, else
    ``package``; imports only made for type checkers count as well.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph(package: str) -> dict[str, set[str]]:
    paths = {module_name(p): p for p in (ROOT / package).rglob("*.py")}
    modules = set(paths)
    return {name: imported_modules(path, modules) - {name} for name, path in paths.items()}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle of ``graph`` (its modules in order), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_module_of_the_app_imports_in_a_cycle() -> None:
    # A package's __init__ runs before its modules: importing one imports the package too.
    graph = import_graph("notifications")
    for module in graph:
        parent = module.rpartition(".")[0]
        graph[module] = {m for m in graph[module] if m != parent}
    assert cycle_in(graph) is None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_the_app_has_few_modules_at_its_top() -> None:
    top = sorted(p.name for p in (ROOT / "notifications").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
