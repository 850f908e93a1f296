"""The tree shows the domain (DESIGN section 8), and imports only run downwards.

Layers, lowest first: the pure decisions (and the config and probe types they speak of),
then the edges that do I/O (store, notify), then the engines that join them, then the
daemon, the API and the web, and last the command line. A pure decision module never
imports an edge; no module imports one of a higher layer; no two modules import each other,
however indirectly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
PACKAGE = SRC / "outagewatch"

PURE = {
    "outagewatch.detection.rule",
    "outagewatch.detection.tracking",
    "outagewatch.incidents.actions",
    "outagewatch.incidents.decisions",
    "outagewatch.incidents.model",
    "outagewatch.states.read_model",
    "outagewatch.maintenance.decisions",
    "outagewatch.reporting.record",
    "outagewatch.reporting.budgets",
    "outagewatch.certificates.decisions",
}

# Packages by layer, lowest first; a module may import its own layer and those below. Each
# domain package owns its queries (incidents/store.py, …): store/ keeps the engine, the
# tables, the samples and the migrations. api and web are siblings the daemon composes.
# tls/ holds the mechanics the config, probes, relays and simulators share; certificates/,
# the warnings about them, needs store/ and notify/ and so sits above them.
LAYERS: list[set[str]] = [
    {"outagewatch", "outagewatch.durations", "outagewatch.logs", "outagewatch.text"},
    {"outagewatch.tls"},
    {"outagewatch.config", "outagewatch.probes", "outagewatch.sim", "outagewatch.metrics"},
    {"outagewatch.store"},
    {"outagewatch.notify"},
    {"outagewatch.incidents", "outagewatch.certificates"},
    {"outagewatch.maintenance"},
    {"outagewatch.states"},
    {"outagewatch.detection"},
    {"outagewatch.reporting"},
    {"outagewatch.api", "outagewatch.web"},
    {"outagewatch.daemon"},
    {"outagewatch.cli", "outagewatch.__main__"},
]
# What a pure decision module may import besides other pure ones: no edge that does I/O.
BELOW_EDGES = LAYERS.index({"outagewatch.store"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("outagewatch"):
                found.add(node.module)
                # `from outagewatch.x import y` may name the module outagewatch.x.y
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("outagewatch"))
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {i for i in imports_of(path) if i in MODULES and i != name}
    for name, path in MODULES.items()
}


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downwards(module: str) -> None:
    if module.endswith("__init__") or MODULES[module].name == "__init__.py":
        return  # a package's __init__ may re-export its own members
    upward = [i for i in GRAPH[module] if layer_of(i) > layer_of(module)]
    assert not upward, f"{module} imports from a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_decisions_import_no_edge(module: str) -> None:
    impure = [i for i in GRAPH[module] if i not in PURE and layer_of(i) >= BELOW_EDGES]
    assert not impure, f"{module} is a pure decision module but imports {impure}"


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2]) if module.count(".") >= 1 else module


def test_no_import_cycle_between_packages() -> None:
    """Packages depend on each other one way only: a cycle between two packages (store and
    detection, api and web) means one of them holds what belongs to the other."""
    edges: dict[str, set[str]] = {}
    for module, deps in GRAPH.items():
        mine = package_of(module)
        edges.setdefault(mine, set()).update(p for p in map(package_of, deps) if p != mine)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            raise AssertionError("import cycle between packages: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for package in sorted(edges):
        visit(package, [])


def test_no_import_cycle() -> None:
    # A package __init__ that re-exports its members is not a dependency of theirs.
    graph = {
        m: {i for i in deps if not (MODULES[i].name == "__init__.py" and m.startswith(i + "."))}
        for m, deps in GRAPH.items()
    }
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])


def test_the_rules_have_one_obvious_home() -> None:
    """Where is the 15-minute rule, the hourly cadence, the outbox claim: one guess each."""
    assert "outage_after" in (PACKAGE / "detection" / "rule.py").read_text()
    assert "update_every" in (PACKAGE / "incidents" / "decisions.py").read_text()
    assert (
        "processed" in (PACKAGE / "notify" / "outbox.py").read_text()
        or "claim" in (PACKAGE / "notify" / "outbox.py").read_text()
    )
