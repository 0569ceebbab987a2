"""The house's arrows: no import loop between the project's files, and imports that run one way
(applications -> engine and theory; reports -> stored results and theory; theory -> sim.cell only).

Imports are read from the source (every import statement, at any depth of a file, so a lazy import
inside a function counts too); nothing is imported. Deterministic: no false failures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sim", "theory", "reports")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(f): f for p in PACKAGES for f in sorted((ROOT / p).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The project module an import of `name` loads last (its longest known prefix), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The project modules that `module`'s file imports anywhere in it."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(t for t in map(_resolve, names) if t is not None and t != module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of `graph` with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_walk_sees_lazy_imports() -> None:
    """The reader finds an import made inside a function (the grid command's report step)."""
    assert "reports" in GRAPH["sim.grid.command"]


def test_the_loop_finder_finds_loops() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_loop() -> None:
    assert cycles(GRAPH) == []


def test_the_engine_imports_no_application() -> None:
    """The top of sim/ is the engine: it imports neither its applications nor theory nor reports."""
    engine = {m for m, f in MODULES.items() if f.parent == ROOT / "sim"}  # the files at the top of sim/
    for module in sorted(engine):
        wrong = sorted(t for t in GRAPH[module] if t not in engine)
        assert not wrong, f"{module} imports {wrong}"


def test_theory_reads_only_the_cell() -> None:
    for module in sorted(m for m in MODULES if m.startswith("theory")):
        wrong = sorted(t for t in GRAPH[module] if t.startswith(("sim", "reports")) and t != "sim.cell")
        assert not wrong, f"{module} imports {wrong}"


# The commands whose last step builds the report: the only modules under sim/ that import reports.
REPORTING_COMMANDS = ("sim.grid.command", "sim.check.command")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("sim")))
def test_only_the_commands_import_reports(module: str) -> None:
    reports = sorted(t for t in GRAPH[module] if t.startswith("reports"))
    assert module in REPORTING_COMMANDS or not reports, f"{module} imports {reports}"


def test_reports_read_stored_results_not_the_engine() -> None:
    """reports reach sim only through the cell, the store and the landscape model (stored results)."""
    allowed = {"sim.cell", "sim.grid.store", "sim.landscape.model"}
    for module in sorted(m for m in MODULES if m.startswith("reports")):
        wrong = sorted(t for t in GRAPH[module] if t.startswith("sim") and t not in allowed)
        assert not wrong, f"{module} imports {wrong}"
