"""Dependencies point one way (schemas <- agents <- streams), the joiner knows no agent, and no module imports
itself back through others. Read from the source with `ast`, lazy imports inside functions included, so a cycle
hidden in a function body counts too."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("schemas", "agents", "streams")  # the card's folders, imported as scenestream.<folder>
PACKAGES = tuple(f"scenestream.{f}" for f in FOLDERS)


def _top(module: str) -> str:
    """scenestream.agents.asr -> scenestream.agents: which of the three a module belongs to."""
    return ".".join(module.split(".")[:2])


def _module_name(path: Path) -> str:
    parts = ["scenestream", *path.relative_to(ROOT).with_suffix("").parts]
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
    return {m for m in found if _top(m) in PACKAGES}


def _bare_imports(path: Path) -> set[str]:
    """Imports of the card's folders by their bare names (`import agents`), which only work from the repo root."""
    tree = ast.parse(path.read_text(), str(path))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    return {m for m in names if m.split(".")[0] in FOLDERS}


SOURCES = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
GRAPH = {_module_name(p): _imports(p) for p in SOURCES}
MODULES = set(GRAPH)


def _edges(module: str) -> set[str]:
    # `from scenestream.streams.core import table` names the module ...core.table; `from scenestream.schemas import
    # Scene` the package.
    return {m for m in GRAPH[module] if m in MODULES and m != module}


def test_the_graph_was_read():
    assert {"scenestream.streams.core.joiner", "scenestream.streams.core.table", "scenestream.agents.asr",
            "scenestream.schemas.records"} <= MODULES
    assert any(GRAPH["scenestream.streams.core.joiner"])  # imports were found, so the tests below can fail


def test_everything_imports_through_the_namespace():
    everything = SOURCES + list((ROOT / "tests").rglob("*.py")) + list((ROOT / "bench").rglob("*.py"))
    bare = {str(p.relative_to(ROOT)): sorted(_bare_imports(p)) for p in everything}
    assert {p: m for p, m in bare.items() if m} == {}


@pytest.mark.parametrize("package,forbidden", [("scenestream.schemas", ("scenestream.agents", "scenestream.streams")),
                                               ("scenestream.agents", ("scenestream.streams",))])
def test_dependencies_point_one_way(package, forbidden):
    bad = {m: sorted(i for i in GRAPH[m] if _top(i) in forbidden) for m in GRAPH if _top(m) == package}
    assert {m: i for m, i in bad.items() if i} == {}


def test_the_joiner_imports_no_agent():
    assert not [m for m in GRAPH["scenestream.streams.core.joiner"] if _top(m) == "scenestream.agents"]


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
