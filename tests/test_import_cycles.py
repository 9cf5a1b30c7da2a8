"""No import cycle among the modules of ``src/precisionmed``.

What counts as an import of module A by module B: every ``import`` and ``from ... import``
statement in B's source, at module level and inside functions, methods and ``try`` blocks alike
(a function-level import is still a dependency, only a delayed one), relative imports resolved.
Not counted: imports under ``if TYPE_CHECKING:`` (never executed), and imports made *by* a
package's ``__init__.py`` (its re-exports of its own submodules: importing any submodule runs
the package's ``__init__`` first, so those edges would make every package a cycle).
``from pkg import name`` where ``pkg/__init__.py`` re-exports ``name`` from ``pkg.sub`` counts as
an import of ``pkg.sub``, so a cycle through a re-export is still found. Imports of modules
outside the package are ignored.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` for every counted import statement."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((base, alias.name) for alias in node.names)
    return found


def import_graph(src: Path, top: str = "precisionmed") -> dict[str, set[str]]:
    """Module -> the package's modules it imports (see the module docstring for what counts)."""
    files = {_module_name(p, src): p for p in sorted((src / top).rglob("*.py"))}
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    raw = {
        m: _imports(ast.parse(p.read_text(), str(p)), m, m in packages) for m, p in files.items()
    }
    # name -> module of every re-export in a package's __init__
    reexports = {
        pkg: {name: f"{base}.{name}" if f"{base}.{name}" in files else base
              for base, name in raw[pkg] if name is not None and base in files}
        for pkg in packages
    }  # fmt: skip

    def resolve(base: str, name: str | None) -> str | None:
        if name is not None and f"{base}.{name}" in files:
            return f"{base}.{name}"
        seen = set()
        while base in packages and name in reexports[base] and base not in seen:
            seen.add(base)
            base = reexports[base][name]
        return base if base in files else None

    graph: dict[str, set[str]] = {}
    for module, imports in raw.items():
        if module in packages:
            graph[module] = set()
            continue
        targets = {resolve(base, name) for base, name in imports}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (``[a, b, ..., a]``), or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "demo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from demo.sub.b import g\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from demo import g\n    return g\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\n\ndef g():\n    return f\n")
    graph = import_graph(tmp_path, "demo")
    assert graph["demo.a"] == {"demo.sub.b"}  # through the package's re-export
    assert graph["demo.sub.b"] == {"demo.a"}
    assert set(find_cycle(graph) or ()) == {"demo.a", "demo.sub.b"}
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import demo.sub.b\n"
    )
    assert find_cycle(import_graph(tmp_path, "demo")) is None


def test_no_import_cycle_in_precisionmed() -> None:
    graph = import_graph(SRC)
    assert len(graph) > 50  # the whole package was read
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle))
