"""The package imports as layers: no module imports itself back through others."""
from __future__ import annotations

import ast
from pathlib import Path

import deps

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Project module -> project modules it imports anywhere (lazy imports in functions too)."""
    modules = {module_name(p): p for p in (ROOT / "pipeline").rglob("*.py")}
    return {name: {m for m in deps.imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
                   if m in modules and m != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search, as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycles():
    loops = cycles(import_graph())
    assert not loops, f"import cycles: {loops}"


def test_params_is_a_leaf():
    assert import_graph()["pipeline.params"] == set()


def test_the_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
