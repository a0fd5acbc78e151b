"""Dependencies point one way (schemas <- agents <- streams), the joiner knows no agent, and no module imports
itself back through others. Read from the source with `ast`, lazy imports inside functions included, so a cycle
hidden in a function body counts too."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "agents", "streams")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


GRAPH = {_module_name(p): _imports(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
MODULES = set(GRAPH)


def _edges(module: str) -> set[str]:
    # `from streams import table` names the module streams.table; `from schemas import Scene` the package.
    return {m for m in GRAPH[module] if m in MODULES and m != module}


def test_the_graph_was_read():
    assert {"streams.joiner", "streams.table", "agents.asr", "schemas.records"} <= MODULES


@pytest.mark.parametrize("package,forbidden", [("schemas", ("agents", "streams")), ("agents", ("streams",))])
def test_dependencies_point_one_way(package, forbidden):
    bad = {m: sorted(i for i in GRAPH[m] if i.split(".")[0] in forbidden)
           for m in GRAPH if m.split(".")[0] == package}
    assert {m: i for m, i in bad.items() if i} == {}


def test_the_joiner_imports_no_agent():
    assert not [m for m in GRAPH["streams.joiner"] if m.split(".")[0] == "agents"]


def test_no_import_cycle():
    # Package __init__ modules re-export their children: an edge to a package is not a cycle through its children.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(_edges(m)):
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [m])
    assert cycles == []
