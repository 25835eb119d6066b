"""The layout's import rules, read from the source (ast), no module imported: ``latentedit/`` never imports a
plugin, encoder or domain package (``latentedit_*``), and its modules form no import cycle at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "latentedit"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool, root: Path = ROOT) -> list[tuple[str, int]]:
    """(imported module, line) of every import in ``path``; with ``top_level_only`` the ones run at import time
    (module body, including its if/try blocks, not function bodies or ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((a.name, node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                found.append((base, node.lineno))
                found.extend((f"{base}.{a.name}", node.lineno) for a in node.names)
            elif top_level_only:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                if isinstance(node, (ast.If, ast.Try, ast.With)):
                    visit(ast.iter_child_nodes(node))
            elif not isinstance(node, (ast.expr_context,)):
                visit(ast.iter_child_nodes(node))

    visit(tree.body)
    return found


SOURCES = sorted(ROOT.rglob("*.py"))


def test_the_tree_is_found():
    assert len(SOURCES) > 50 and (ROOT / "cli" / "main.py") in SOURCES


def test_latentedit_imports_no_plugin_encoder_or_domain_package():
    offenders = [f"{p.relative_to(ROOT.parent)}:{line} imports {name}"
                 for p in SOURCES for name, line in _imports(p, top_level_only=False)
                 if name.split(".")[0].startswith("latentedit_")]
    assert not offenders, "latentedit/ must find plugins through entry points:\n" + "\n".join(offenders)


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path):
    src = tmp_path / "latentedit" / "sub" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("from . import y\ndef f():\n    from latentedit_toyfaces import render\n"
                   "    import latentedit_isf.mapper\n")
    every = [n for n, _ in _imports(src, top_level_only=False, root=tmp_path / "latentedit")]
    top = [n for n, _ in _imports(src, top_level_only=True, root=tmp_path / "latentedit")]
    assert "latentedit_toyfaces" in every and "latentedit_isf.mapper" in every
    assert "latentedit.sub.y" in top and "latentedit_toyfaces" not in top


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SOURCES}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for imported, _ in _imports(path, top_level_only=True):
            while imported and imported not in modules:  # `from pkg import name` names a module or an attribute
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported.startswith("latentedit"):
                deps.add(imported)
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            # a package's __init__ importing its own submodules is not a cycle worth reporting
            if dep.startswith(node + "."):
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if state.get(dep) is None:
                found = dfs(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "p": {"p.x"}, "p.x": set()}) is None


@pytest.mark.parametrize("rule", ["module level"])
def test_latentedit_modules_import_each_other_without_cycles(rule):
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle at " + rule + ": " + " -> ".join(cycle)
